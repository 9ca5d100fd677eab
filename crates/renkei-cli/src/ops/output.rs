//! One way to print every operator command: a table for people, JSON for scripts.

use serde_json::Value;

/// A command's result: rows under headers, and the same data as JSON.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub(crate) headers: Vec<&'static str>,
    pub(crate) rows: Vec<Vec<String>>,
    pub(crate) json: Value,
    /// A sentence printed under the table (not in JSON).
    pub(crate) note: Option<String>,
}

impl Output {
    pub(crate) fn message(text: impl Into<String>, json: Value) -> Output {
        Output {
            note: Some(text.into()),
            json,
            ..Default::default()
        }
    }

    pub(crate) fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(&self.json)?);
            return Ok(());
        }
        if !self.headers.is_empty() {
            let width = |s: &str| unicode_width::UnicodeWidthStr::width(s);
            let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
            for row in &self.rows {
                for (i, cell) in row.iter().enumerate() {
                    if let Some(w) = widths.get_mut(i) {
                        *w = (*w).max(width(cell));
                    }
                }
            }
            let line = |cells: Vec<&str>| {
                let mut s = String::new();
                for (i, c) in cells.iter().enumerate() {
                    s.push_str(c);
                    if i + 1 < cells.len() {
                        s.push_str(&" ".repeat(widths[i].saturating_sub(width(c)) + 2));
                    }
                }
                s
            };
            println!("{}", line(self.headers.clone()));
            for row in &self.rows {
                println!("{}", line(row.iter().map(String::as_str).collect()));
            }
            if self.rows.is_empty() {
                println!("(none)");
            }
        }
        if let Some(n) = &self.note {
            println!("{n}");
        }
        Ok(())
    }
}

/// Milliseconds as local-free ISO text, for tables.
pub(crate) fn when(ms: i64) -> String {
    if ms == 0 {
        String::new()
    } else {
        renkei_core::format_ms(ms)
    }
}
