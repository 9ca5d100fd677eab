//! Bar charts drawn on the server as SVG: no chart library, no script, and the same
//! numbers are always in a table beside the chart for screen readers.

use maud::{Markup, html};

/// Series colours, distinguishable and at least 3:1 against white (WCAG 1.4.11).
const COLOURS: [&str; 4] = ["#1f5fa8", "#2e7d32", "#b3261e", "#8a5a00"];

/// One group of bars per category, one bar per series.
pub(crate) fn grouped_bars(
    id: &str,
    title: &str,
    series: &[&str; 4],
    data: &[(String, [u64; 4])],
) -> Markup {
    let max = data
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let (bar, gap, left, top, plot_h) = (12u64, 16u64, 48u64, 28u64, 180u64);
    let group_w = bar * 4 + gap;
    // Wide enough for the legend even with one category.
    let width = (left + group_w * data.len().max(1) as u64 + 16).max(left + 110 * 4);
    let height = top + plot_h + 64;
    let y = |v: u64| top + plot_h - v * plot_h / max;
    html! {
        figure.chart {
            svg id=(id) role="img" aria-labelledby={ (id) "-title" } viewBox={ "0 0 " (width) " " (height) }
                width=(width) height=(height) xmlns="http://www.w3.org/2000/svg" {
                title id={ (id) "-title" } { (title) }
                line x1=(left) y1=(top + plot_h) x2=(width - 8) y2=(top + plot_h) stroke="#333" {}
                line x1=(left) y1=(top) x2=(left) y2=(top + plot_h) stroke="#333" {}
                text x=(left - 6) y=(top + 4) text-anchor="end" font-size="11" fill="#222" { (max) }
                text x=(left - 6) y=(top + plot_h) text-anchor="end" font-size="11" fill="#222" { "0" }
                @for (i, (label, values)) in data.iter().enumerate() {
                    @let x0 = left + 8 + group_w * i as u64;
                    @for (s, v) in values.iter().enumerate() {
                        rect x=(x0 + bar * s as u64) y=(y(*v)) width=(bar - 1) height=(top + plot_h - y(*v))
                            fill=(COLOURS[s]) { title { (series[s]) ": " (v) } }
                    }
                    text x=(x0 + bar * 2) y=(top + plot_h + 14) text-anchor="end" font-size="11" fill="#222"
                        transform={ "rotate(-35 " (x0 + bar * 2) " " (top + plot_h + 14) ")" } { (label) }
                }
                @for (s, name) in series.iter().enumerate() {
                    rect x=(left + 110 * s as u64) y="6" width="10" height="10" fill=(COLOURS[s]) {}
                    text x=(left + 14 + 110 * s as u64) y="15" font-size="12" fill="#222" { (name) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tallest_bar_fills_the_plot_and_every_value_is_labelled() {
        let data = vec![
            ("a".to_owned(), [4, 2, 0, 1]),
            ("b".to_owned(), [1, 0, 0, 0]),
        ];
        let svg = grouped_bars("c", "T", &["i", "p", "r", "h"], &data).into_string();
        assert_eq!(svg.matches("<rect").count(), 8 + 4, "{svg}");
        assert!(
            svg.contains("height=\"180\""),
            "the max value spans the plot: {svg}"
        );
        assert!(svg.contains("<title>i: 4</title>"), "{svg}");
        assert!(svg.contains("<title id=\"c-title\">T</title>"), "{svg}");
    }
}
