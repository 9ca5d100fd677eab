//! `renkei gen-data` and `renkei vaccination …`: the vaccination adapter's commands.
//! The work is done by `renkei_vaccination`; this module parses arguments, draws progress
//! bars and prints summaries.

use std::collections::HashMap;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use renkei_vaccination::client::{GatewayEndpoint, Progress};
use renkei_vaccination::generate::{GenOptions, GenSinks, GenSummary};
use renkei_vaccination::ledger::{ReadOptions, ReadReport};
use renkei_vaccination::sync::DeletionGuard;
use renkei_vaccination::transfer::{TransferOptions, TransferOutcome};
use renkei_vaccination::{InputFormat, RowError, TextEncoding, fhir, ledger};

/// How many bad rows a command prints before summarising the rest.
const SHOWN_ERRORS: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Csv,
    Fhir,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  renkei gen-data --city 141003 --residents 100000 --seed 1 --out data/yokohama"
)]
pub(crate) struct GenDataArgs {
    /// The city's 全国地方公共団体コード.
    #[arg(long, default_value = "141003")]
    city: String,
    #[arg(long, default_value_t = 10_000)]
    residents: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for vaccinations.csv (or .fhir.json), residents.csv and address-export.csv.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Write the ledger in Shift_JIS instead of UTF-8 (CSV only).
    #[arg(long)]
    shift_jis: bool,
    /// Leave out the §8 anomalies (unknown dates stay out, no bad rows, no duplicates).
    #[arg(long)]
    no_anomalies: bool,
    /// Generation date, YYYY-MM-DD (default: today in JST). Same date, same files.
    #[arg(long)]
    today: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Connection {
    /// The gateway's local (back-office) side, host:port.
    #[arg(long, default_value = "127.0.0.1:7401", env = "RENKEI_GATEWAY")]
    gateway: String,
    /// The name in the gateway's certificate.
    #[arg(long, default_value = "gateway.renkei.local")]
    server_name: String,
    /// This municipality's code: the adapter authenticates as backoffice-<agency>.pem.
    #[arg(long)]
    agency: String,
    /// Certificate directory holding ca.pem and backoffice-<agency>.pem / .key.pem.
    #[arg(long, default_value = "certs-dev")]
    certs: PathBuf,
}

impl Connection {
    fn endpoint(&self) -> GatewayEndpoint {
        GatewayEndpoint::from_certs_dir(&self.gateway, &self.server_name, &self.certs, &self.agency)
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct LedgerInput {
    /// The local records: the 予防接種台帳 CSV export (one row per dose; docs/vaccination-csv.md)
    /// or a FHIR R4 Bundle of Patient and Immunization (docs/vaccination-fhir.md).
    #[arg(long)]
    ledger: PathBuf,
    /// auto (FHIR for a .json file or one starting with `{`, CSV otherwise), csv or fhir.
    #[arg(long, default_value = "auto")]
    input_format: InputFormat,
    /// 宛名番号 → 統合宛名番号 mapping, for rows that carry only the system's own number.
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// auto (UTF-8 with or without BOM, else Shift_JIS), utf-8 or shift_jis.
    #[arg(long, default_value = "auto")]
    encoding: TextEncoding,
    /// VRS exports (予防接種台帳向け出力) whose COVID-19 doses are added to the ledger's;
    /// doses the ledger already has are not added twice. May be given more than once.
    #[arg(long)]
    vrs: Vec<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum VaccinationCommand {
    /// Register provision copies (副本) of every person's vaccination record; a re-run
    /// sends only persons whose records changed, and an interrupted run resumes.
    #[command(
        after_help = "Example:\n  renkei vaccination sync --agency 141003 --ledger data/yokohama/vaccinations.csv --state data/yokohama/sync.state\nWith a FHIR bundle:\n  renkei vaccination sync --agency 141003 --ledger data/yokohama/vaccinations.fhir.json --state data/yokohama/sync.state\n\nA CSV ledger is streamed; a FHIR bundle (--input-format fhir, or auto for .json) is read whole."
    )]
    Sync {
        #[command(flatten)]
        conn: Connection,
        #[command(flatten)]
        input: LedgerInput,
        /// Per-person content hashes of what the gateway acknowledged.
        #[arg(long)]
        state: PathBuf,
        /// Send every person whatever the state says.
        #[arg(long)]
        full: bool,
        /// Persons per bulk import call.
        #[arg(long, default_value_t = 5000)]
        chunk: usize,
    },
    /// Acquire symbols (符号) in bulk from the address system's export of 統合宛名番号 and
    /// 個人番号. My Numbers stay in memory and are never written or printed.
    #[command(
        after_help = "Example:\n  renkei vaccination symbols --agency 141003 --export data/yokohama/address-export.csv"
    )]
    Symbols {
        #[command(flatten)]
        conn: Connection,
        #[arg(long)]
        export: PathBuf,
        #[arg(long, default_value = "auto")]
        encoding: TextEncoding,
        #[arg(long, default_value_t = 5000)]
        chunk: usize,
    },
    /// Export the gateway's copies and compare them with the ledger: persons missing,
    /// extra or different. Exit status 0 when they match, 1 when they do not.
    #[command(
        after_help = "Example:\n  renkei vaccination reconcile --agency 141003 --ledger data/yokohama/vaccinations.csv\nWith a FHIR bundle:\n  renkei vaccination reconcile --agency 141003 --ledger data/yokohama/vaccinations.fhir.json"
    )]
    Reconcile {
        #[command(flatten)]
        conn: Connection,
        #[command(flatten)]
        input: LedgerInput,
    },
    /// Ask a new resident's previous city for their vaccination history, wait for the
    /// outcome, merge the doses into the local record and write it out.
    #[command(
        after_help = "Example:\n  renkei vaccination transfer-in --agency 011002 --uan 0110029000001 --previous-city 141003 --ledger vaccinations.csv --out merged.csv\nWith a FHIR bundle:\n  renkei vaccination transfer-in --agency 011002 --uan 0110029000001 --previous-city 141003 --ledger records.fhir.json --out merged.json --format fhir\nPicking up a pending inquiry:\n  renkei vaccination transfer-in --agency 011002 --uan 0110029000001 --previous-city 141003 --inquiry-id INQUIRY --out merged.csv\n\nThe last form picks up an inquiry that an earlier run left pending (e.g. held for the previous city's operator)."
    )]
    TransferIn {
        #[command(flatten)]
        conn: Connection,
        /// The new resident's 統合宛名番号 here (symbol already acquired).
        #[arg(long)]
        uan: String,
        /// The previous municipality's 全国地方公共団体コード.
        #[arg(long)]
        previous_city: String,
        /// The local records, for doses already known here (optional): a ledger CSV or a
        /// FHIR Bundle.
        #[arg(long)]
        ledger: Option<PathBuf>,
        /// auto (FHIR for a .json file or one starting with `{`, CSV otherwise), csv or fhir.
        #[arg(long, default_value = "auto")]
        input_format: InputFormat,
        #[arg(long, default_value = "auto")]
        encoding: TextEncoding,
        /// Where to write the merged record.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Seconds to wait for the answer before reporting the inquiry as pending.
        #[arg(long, default_value_t = 30)]
        wait: u64,
        /// Pick up an inquiry submitted earlier (e.g. one that was held).
        #[arg(long)]
        inquiry_id: Option<String>,
    },
    /// Benchmark the full load of a generated city (reading the CSV included) through a
    /// hub and gateway started on loopback, and an incremental re-run with 1% changed.
    /// Build with --release for numbers worth recording.
    #[command(
        after_help = "Example:\n  cargo run --release -- vaccination bench --residents 3770000"
    )]
    Bench {
        #[arg(long, default_value_t = 377_000)]
        residents: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep the generated files and the gateway's data here (default: a temporary directory).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Certificate directory (default: $RENKEI_CERTS_DIR, else ./certs-dev).
        #[arg(long)]
        certs: Option<PathBuf>,
        #[arg(long, default_value_t = 5000)]
        chunk: usize,
    },
}

/// A progress bar on stderr; hidden when stderr is not a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Bar {
        Bar(ProgressBar::hidden())
    }
}

impl Progress for Bar {
    fn start(&self, what: &str, total: u64) {
        self.0
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        self.0.set_length(total);
        self.0.set_position(0);
        // A total of 0 means unknown (a streamed file): a count without a bar.
        let template = if total == 0 {
            "{msg:32} {pos} ({per_sec})"
        } else {
            "{msg:32} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})"
        };
        self.0.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        self.0.set_message(what.to_owned());
    }

    fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn print_row_errors(errors: &[RowError]) {
    let what = if errors.iter().any(|e| e.entry.is_some()) {
        "entry"
    } else {
        "row"
    };
    for e in errors.iter().take(SHOWN_ERRORS) {
        eprintln!("  bad {what}: {e}");
    }
    if errors.len() > SHOWN_ERRORS {
        eprintln!("  … and {} more bad {what}s", errors.len() - SHOWN_ERRORS);
    }
}

fn read_mapping_file(input: &LedgerInput) -> anyhow::Result<Option<HashMap<String, String>>> {
    Ok(match &input.mapping {
        Some(p) => {
            let (map, errors) = ledger::read_mapping(p, input.encoding)?;
            if !errors.is_empty() {
                eprintln!("{}: {} bad mapping rows", p.display(), errors.len());
                print_row_errors(&errors);
            }
            Some(map)
        }
        None => None,
    })
}

fn read_input(input: &LedgerInput, city: &str) -> anyhow::Result<ReadReport> {
    let mapping = read_mapping_file(input)?;
    let opts = ReadOptions {
        encoding: input.encoding,
        mapping,
        today: None,
    };
    let started = Instant::now();
    let (mut report, format) =
        renkei_vaccination::input::read_records(&input.ledger, input.input_format, &opts)?;
    let (rows, bad) = match format {
        InputFormat::Fhir => ("entries", "bad entries"),
        _ => ("rows", "bad rows"),
    };
    println!(
        "read {} ({format}): {} {rows} ({:?}), {} persons, {} doses, {} {bad}, in {:.1} s",
        input.ledger.display(),
        report.rows,
        report.encoding.unwrap_or_default(),
        report.master.persons.len(),
        report.master.dose_count(),
        report.errors.len(),
        started.elapsed().as_secs_f64()
    );
    if !report.skipped.is_empty() {
        let skipped: Vec<String> = report
            .skipped
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        println!("  skipped (not doses): {}", skipped.join(", "));
    }
    print_row_errors(&report.errors);
    for path in &input.vrs {
        let vrs =
            renkei_vaccination::vrs::read_vrs(path, input.encoding, city, opts.mapping.as_ref())?;
        let (rows, doses, bad) = (vrs.rows, vrs.doses, vrs.errors.len());
        print_row_errors(&vrs.errors);
        report.errors.extend(vrs.errors);
        let added = renkei_vaccination::vrs::merge_into(&mut report.master, vrs.master);
        println!(
            "read {}: {rows} rows, {doses} COVID-19 doses ({added} not already in the ledger), {bad} bad rows",
            path.display()
        );
    }
    Ok(report)
}

pub(crate) fn gen_data(args: GenDataArgs) -> anyhow::Result<bool> {
    renkei_core::AgencyCode::parse(&args.city)?;
    let today = match &args.today {
        Some(d) => ledger::parse_date(d).with_context(|| format!("--today {d:?} is not a date"))?,
        None => ledger::today_jst(),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let opts = GenOptions {
        seed: args.seed,
        residents: args.residents,
        city: args.city.clone(),
        today,
        anomalies: !args.no_anomalies,
    };
    let started = Instant::now();
    let bar = Bar::new();
    bar.start("generating residents", args.residents);
    let ledger_path = args.out.join("vaccinations.csv");
    let create = |p: &Path| -> anyhow::Result<BufWriter<std::fs::File>> {
        Ok(BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        ))
    };
    // Shift_JIS and FHIR are converted from the ledger once it is complete.
    let convert = args.shift_jis || args.format == Format::Fhir;
    let mut buf = Vec::new();
    let ledger_sink: Box<dyn std::io::Write + '_> = if convert {
        Box::new(&mut buf)
    } else {
        Box::new(create(&ledger_path)?)
    };
    let mut sinks = GenSinks::new(
        ledger_sink,
        Box::new(create(&args.out.join("residents.csv"))?),
        Box::new(create(&args.out.join("address-export.csv"))?),
    )?;
    let mut last = 0;
    let summary = renkei_vaccination::generate::generate(&opts, &mut sinks, |n| {
        bar.inc(n - last);
        last = n;
    })?;
    bar.finish();
    sinks.finish()?;
    if convert {
        match args.format {
            Format::Csv => {
                let text = String::from_utf8(buf)?;
                std::fs::write(
                    &ledger_path,
                    renkei_vaccination::text::encode_shift_jis(&text)?,
                )?;
            }
            Format::Fhir => {
                let report = ledger::read_ledger_bytes(
                    "generated",
                    &buf,
                    &ReadOptions {
                        today: Some(today),
                        ..Default::default()
                    },
                    TextEncoding::Utf8,
                )?;
                let path = args.out.join("vaccinations.fhir.json");
                let w = create(&path)?;
                serde_json::to_writer(w, &fhir::to_bundle(&args.city, &report.master))?;
                println!(
                    "wrote {} ({} bad rows of the seeded anomalies left out, as the adapter would)",
                    path.display(),
                    report.errors.len()
                );
            }
        }
    }
    print_gen_summary(&args, &summary, started.elapsed());
    Ok(true)
}

fn print_gen_summary(args: &GenDataArgs, s: &GenSummary, took: Duration) {
    println!(
        "generated {} residents of {} ({}) in {:.1} s, seed {}, into {}",
        s.residents,
        renkei_vaccination::generate::city_name(&args.city),
        args.city,
        took.as_secs_f64(),
        args.seed,
        args.out.display()
    );
    println!(
        "  {} persons with vaccination records, {} dose rows; {} children, {} aged 65+",
        s.persons_with_records, s.dose_rows, s.children, s.elderly
    );
    println!(
        "  life events: {} moved in, {} moved out, {} died, {} DV-protected",
        s.moved_in, s.moved_out, s.deaths, s.dv_protected
    );
    println!(
        "  anomalies: {} unknown dates, {} doses outside the city, {} duplicate persons, {} kana typos, {} bad rows, {} wrong previous-city codes",
        s.unknown_dates,
        s.outside_city,
        s.duplicate_persons,
        s.kana_typos,
        s.bad_rows,
        s.wrong_previous_city
    );
}

pub(crate) async fn run(cmd: VaccinationCommand) -> anyhow::Result<bool> {
    match cmd {
        VaccinationCommand::Bench {
            residents,
            seed,
            data,
            certs,
            chunk,
        } => {
            // The bench's findings are its report: standard output, a line as each is known.
            let say = |line: &str| println!("{line}");
            renkei_bench::workload::vaccination::full_load(
                residents, seed, data, certs, chunk, &say,
            )
            .await
        }
        VaccinationCommand::Sync {
            conn,
            input,
            state,
            full,
            chunk,
        } => {
            let mut opts = renkei_vaccination::sync::SyncOptions {
                state,
                full,
                chunk,
                max_chunks: None,
                guard: Default::default(),
            };
            let channel = conn.endpoint().connect()?;
            let started = Instant::now();
            let format = renkei_vaccination::input::resolve(&input.ledger, input.input_format)?;
            let r = if input.vrs.is_empty() && format == InputFormat::Csv {
                // A ledger CSV alone is streamed: persons are sent while the file is read, and
                // memory holds hashes, not the population. A FHIR bundle is one JSON value
                // and is read whole (docs/vaccination-fhir.md).
                let read = ReadOptions {
                    encoding: input.encoding,
                    mapping: read_mapping_file(&input)?,
                    today: None,
                };
                let (r, stream) = renkei_vaccination::sync::sync_ledger(
                    channel,
                    &input.ledger,
                    &read,
                    &opts,
                    &Bar::new(),
                )
                .await?;
                println!(
                    "read {}: {} rows ({:?}), {} persons, {} bad rows",
                    input.ledger.display(),
                    stream.rows,
                    stream.encoding.unwrap_or_default(),
                    r.persons,
                    stream.errors.len(),
                );
                print_row_errors(&stream.errors);
                r
            } else {
                let report = read_input(&input, &conn.agency)?;
                opts.guard = DeletionGuard::from_errors(&report.errors);
                renkei_vaccination::sync::sync(channel, &report.master, &opts, &Bar::new()).await?
            };
            let secs = started.elapsed().as_secs_f64();
            println!(
                "sync: {} persons, {} unchanged, {} sent, {} accepted, {} refused, {} deleted, in {:.1} s ({:.0} persons/s sent)",
                r.persons,
                r.unchanged,
                r.sent,
                r.accepted,
                r.refused.len(),
                r.deleted,
                secs,
                r.sent as f64 / secs.max(1e-9)
            );
            if r.withheld > 0 {
                println!(
                    "  {} copies of persons no longer in the input were kept, not deleted: bad rows may be why they are missing; fix the bad rows and run again",
                    r.withheld
                );
            }
            for f in r.refused.iter().take(SHOWN_ERRORS) {
                eprintln!(
                    "  refused: {} {}: {}",
                    f.unified_address_number, f.field, f.reason
                );
            }
            Ok(r.refused.is_empty())
        }
        VaccinationCommand::Symbols {
            conn,
            export,
            encoding,
            chunk,
        } => {
            let (entries, errors) =
                renkei_vaccination::symbols::read_address_export(&export, encoding)?;
            println!(
                "read {}: {} persons, {} bad rows",
                export.display(),
                entries.len(),
                errors.len()
            );
            print_row_errors(&errors);
            let channel = conn.endpoint().connect()?;
            let started = Instant::now();
            let r = renkei_vaccination::symbols::acquire_all(channel, entries, chunk, &Bar::new())
                .await?;
            println!(
                "symbols: {} acquired, {} failed, in {:.1} s (My Numbers were held in memory only)",
                r.acquired,
                r.failed.len(),
                started.elapsed().as_secs_f64()
            );
            for f in r.failed.iter().take(SHOWN_ERRORS) {
                eprintln!(
                    "  failed: line {} {}: {}",
                    f.line, f.unified_address_number, f.reason
                );
            }
            Ok(errors.is_empty() && r.failed.is_empty())
        }
        VaccinationCommand::Reconcile { conn, input } => {
            let report = read_input(&input, &conn.agency)?;
            let channel = conn.endpoint().connect()?;
            let r = renkei_vaccination::reconcile::reconcile(channel, &report.master, &Bar::new())
                .await?;
            println!(
                "reconcile: {} persons match, {} missing at the gateway, {} extra at the gateway, {} different",
                r.matched,
                r.missing.len(),
                r.extra.len(),
                r.different.len()
            );
            for u in r.missing.iter().take(SHOWN_ERRORS) {
                println!("  missing: {u}");
            }
            for u in r.extra.iter().take(SHOWN_ERRORS) {
                println!("  extra:   {u}");
            }
            for d in r.different.iter().take(SHOWN_ERRORS) {
                println!(
                    "  different: {} ({} doses only in the ledger, {} only at the gateway)",
                    d.unified_address_number,
                    d.only_local.len(),
                    d.only_gateway.len()
                );
            }
            if r.is_clean() {
                println!("reconcile: the gateway's copies match the ledger");
            }
            Ok(r.is_clean())
        }
        VaccinationCommand::TransferIn {
            conn,
            uan,
            previous_city,
            ledger: ledger_path,
            input_format,
            encoding,
            out,
            format,
            wait,
            inquiry_id,
        } => {
            let mut person = match &ledger_path {
                Some(p) => {
                    let report = read_input(
                        &LedgerInput {
                            ledger: p.clone(),
                            input_format,
                            mapping: None,
                            encoding,
                            vrs: Vec::new(),
                        },
                        &conn.agency,
                    )?;
                    report.master.persons.get(&uan).cloned().unwrap_or_default()
                }
                None => Default::default(),
            };
            let channel = conn.endpoint().connect()?;
            let opts = TransferOptions {
                unified_address_number: uan.clone(),
                previous_city: previous_city.clone(),
                inquiry_id,
                idempotency_key: None,
                wait: Duration::from_secs(wait),
                case_reference: format!("転入 {uan}"),
            };
            let (inquiry, outcome) =
                renkei_vaccination::transfer::ask_previous_city(channel, &opts).await?;
            println!("inquiry {} to {previous_city}", inquiry.inquiry_id);
            let received = match outcome {
                TransferOutcome::Answered { received } => received,
                TransferOutcome::NoData => {
                    println!("the previous city knows the person but holds no vaccination record");
                    Vec::new()
                }
                other => {
                    println!(
                        "{}",
                        unanswered_message(&other, &previous_city, &inquiry.inquiry_id, wait)
                    );
                    return Ok(false);
                }
            };
            let before = person.doses.len();
            let merged =
                renkei_vaccination::transfer::merge(&mut person, &received, &previous_city);
            println!(
                "received {} doses: {} added, {} already known ({} of them dated by the answer); {} doses on record before, {} now",
                received.len(),
                merged.added,
                merged.already_known,
                merged.dated,
                before,
                person.doses.len()
            );
            let mut master = renkei_vaccination::LocalMaster::default();
            master.persons.insert(uan.clone(), person);
            write_master(&out, format, &conn.agency, &master)?;
            println!("wrote {}", out.display());
            Ok(true)
        }
    }
}

/// What an operator is told when a transfer-in ends without records to merge, and what to do.
fn unanswered_message(
    outcome: &TransferOutcome,
    previous_city: &str,
    inquiry_id: &str,
    wait: u64,
) -> String {
    match outcome {
        TransferOutcome::Pending => format!(
            "no answer yet after {wait} s: {previous_city} may be holding it for its operator's \
             decision (自動応答不可), or be slow to answer; the two look the same from here by \
             design. Nothing was merged. To pick up the answer, or a refusal or expiry, run \
             again with --inquiry-id {inquiry_id} (and a longer --wait if you like)"
        ),
        TransferOutcome::NotProvided => format!(
            "not provided: the answer was held at {previous_city} and its operator decided not to \
             provide it. Nothing was merged; ask {previous_city} directly if the history is \
             needed (inquiry {inquiry_id})"
        ),
        TransferOutcome::Expired => format!(
            "expired: the answer was held at {previous_city} and nobody decided before its time \
             limit. Nothing was merged; run again without --inquiry-id to ask anew"
        ),
        TransferOutcome::NoSuchPerson { message } => format!(
            "no such person there: {message}\ncheck the previous-city code; nothing was merged"
        ),
        TransferOutcome::Refused {
            code,
            message,
            refused_by,
        } => format!(
            "refused by {refused_by} ({code:?}): {message}. Nothing was merged (inquiry {inquiry_id})"
        ),
        TransferOutcome::Failed { message } => format!(
            "the inquiry failed: {message}. Nothing was merged; run again with --inquiry-id \
             {inquiry_id} to see whether it completed, or without it to ask anew"
        ),
        TransferOutcome::Answered { .. } | TransferOutcome::NoData => String::new(),
    }
}

fn write_master(
    out: &Path,
    format: Format,
    city: &str,
    master: &renkei_vaccination::LocalMaster,
) -> anyhow::Result<()> {
    let mut w = BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
    );
    match format {
        Format::Csv => ledger::write_ledger(&mut w, master)?,
        Format::Fhir => serde_json::to_writer_pretty(&mut w, &fhir::to_bundle(city, master))?,
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unanswered_outcome_says_what_happened_and_that_nothing_was_merged() {
        use renkei_proto::v1::RefusalCode;
        let cases = [
            (TransferOutcome::Pending, "--inquiry-id inq-1"),
            (TransferOutcome::Pending, "holding it for its operator"),
            (
                TransferOutcome::NotProvided,
                "operator decided not to provide",
            ),
            (TransferOutcome::Expired, "nobody decided"),
            (
                TransferOutcome::NoSuchPerson {
                    message: "no such person".into(),
                },
                "no such person there",
            ),
            (
                TransferOutcome::Refused {
                    code: RefusalCode::NotOnWhitelist,
                    message: "not on the whitelist".into(),
                    refused_by: "hub".into(),
                },
                "refused by hub (NotOnWhitelist): not on the whitelist",
            ),
            (
                TransferOutcome::Failed {
                    message: "boom".into(),
                },
                "the inquiry failed: boom",
            ),
        ];
        for (outcome, says) in cases {
            let m = unanswered_message(&outcome, "141003", "inq-1", 30);
            assert!(m.contains(says), "{outcome:?}: {m}");
            assert!(
                m.to_lowercase().contains("nothing was merged"),
                "{outcome:?}: {m}"
            );
        }
    }
}
