//! `frontier stability`: the four stability criteria for per-sample Hessians a user brings
//! (for example exported from PyTorch) in a safetensors file.
//!
//! Order of work: the flags, then the file's header (names, ranks and shapes of its tensors),
//! then the settings against the sample counts and the memory estimate against the budget;
//! only then are the values read and the analysis run, with progress on stderr (a bar on a
//! terminal, a line every few seconds elsewhere).

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use frontier_model::Loss;
use frontier_stability::escape::{EscapeTime, ForgetAtOptimum};
use frontier_stability::first_moment::FirstMoment;
use frontier_stability::report::optional_number;
use frontier_stability::simulate::InitialState;
use frontier_stability::{
    Curvature, Family, Problem, Report, Sampling, Settings, SimOptions, Thresholds,
};
use frontier_unlearn::escape::margin_loss;
use nalgebra::DMatrix;
use serde::Serialize;

use crate::memory::{Budget, Estimate, Header, read_header};
use crate::progress::{Mode, Reporter};
use crate::tensors::TensorFile;

/// Step-size, mixing and batch settings from the command line.
pub struct Args {
    /// Learning rate η (> 0).
    pub eta: f64,
    /// Mixing ratio α ∈ [0, 1].
    pub alpha: f64,
    /// Retain batch size B_r.
    pub batch: usize,
    /// Forget batch size B_f (default B_r).
    pub batch_forget: Option<usize>,
    /// Batch sampling scheme.
    pub sampling: Sampling,
    /// Simulation options (steps, repetitions, seed, divergence threshold).
    pub sim: SimOptions,
    /// The forget set at w*, for the finite-budget escape prediction (`None`: not asked).
    pub escape: Option<EscapeArgs>,
}

/// What the finite-budget escape prediction T̂_esc = L/κ needs besides the Hessians
/// (`--loss`, `--forget-loss`, `--forget-grad-norm`, `--radius`; docs/science.md, "The
/// escape-time rule").
pub struct EscapeArgs {
    /// The training loss.
    pub loss: Loss,
    /// Mean loss of the forget samples at w* (nats).
    pub forget_loss: f64,
    /// Root mean square over the forget samples of ‖∇_w f(x_j)‖ at w*.
    pub forget_grad_norm: f64,
    /// The escape radius R (parameter units): escaped once ‖w − w*‖ > R.
    pub radius: f64,
}

/// The report with the finite-budget escape prediction beside it (all `null` when the
/// escape flags were not given).
#[derive(Serialize)]
pub struct Output {
    /// Every criterion of the Hessians.
    #[serde(flatten)]
    pub report: Report,
    /// κ = ln(1 + η·|λ_min(H_α)|), e-folds per step along the most unstable direction (0
    /// when H_α has no negative eigenvalue beyond round-off).
    #[serde(serialize_with = "optional_number")]
    pub escape_rate: Option<f64>,
    /// L, the loss-shape factor: e-folds the escape needs.
    #[serde(serialize_with = "optional_number")]
    pub escape_shape_factor: Option<f64>,
    /// T̂_esc = L/κ in steps (`"inf"` when κ = 0).
    #[serde(serialize_with = "optional_number")]
    pub escape_steps_predicted: Option<f64>,
    /// The finite-budget verdict T̂_esc ≤ K with K = `--steps`.
    pub escape_within_steps: Option<bool>,
}

impl EscapeArgs {
    /// The forget set's description for `n_forget` samples; errors name the flag.
    fn forget(&self, n_forget: usize) -> Result<ForgetAtOptimum> {
        ensure!(
            n_forget > 0,
            "--loss, --forget-loss, --forget-grad-norm, --radius: the escape prediction needs \
             a forget family in the file (`forget_g` with `forget_c`, or `forget_h`)"
        );
        let forget = ForgetAtOptimum {
            loss: margin_loss(self.loss),
            forget_loss: self.forget_loss,
            forget_grad_norm: self.forget_grad_norm,
            n_forget,
            radius: self.radius,
        };
        forget.validate().map_err(flag_error)?;
        Ok(forget)
    }
}

/// The tensors a Hessians file may hold.
const KNOWN: [&str; 7] = [
    "retain_g", "retain_c", "retain_h", "forget_g", "forget_c", "forget_h", "gram",
];

/// How one family is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `<prefix>_g` [n, p] with `<prefix>_c` \[n\].
    RankOne,
    /// `<prefix>_h` [n, p, p].
    Dense,
    /// Rows of the shared `gram` with `<prefix>_c` \[n\].
    Gram,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::RankOne => "rank one (`_g` with `_c`)",
            Form::Dense => "dense (`_h`)",
            Form::Gram => "given through `gram`",
        }
    }
}

/// What the file holds, from its header alone.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// The retain family's form.
    form: Form,
    /// The forget family's form (the retain's when absent).
    forget_form: Form,
    n_retain: usize,
    n_forget: usize,
    p: usize,
}

/// The dims of tensor `name` in `header`, checked to have `rank` dimensions of at least 1.
fn dims<'h>(header: &'h Header, name: &str, rank: usize, what: &str) -> Result<&'h [usize]> {
    let Some(shape) = header.shape(name) else {
        bail!("missing tensor `{name}` ({what})");
    };
    ensure!(
        shape.len() == rank && shape.iter().all(|&d| d > 0),
        "tensor `{name}` has shape {shape:?}, expected {rank} dimensions, each at least 1 ({what})"
    );
    Ok(shape)
}

/// (form, n, p) of the family `prefix`, `None` when the file has none of its tensors.
fn family_layout(header: &Header, prefix: &str) -> Result<Option<(Form, usize, usize)>> {
    let (g, c, h) = (
        format!("{prefix}_g"),
        format!("{prefix}_c"),
        format!("{prefix}_h"),
    );
    let has = |name: &str| header.shape(name).is_some();
    let gram = has("gram");
    match (has(&g), has(&h), has(&c)) {
        (true, true, _) => bail!("both `{g}` and `{h}` are present: give one form per family"),
        (_, _, _) if gram && (has(&g) || has(&h)) => {
            bail!(
                "`gram` and `{}` are both present: give the Gram matrix or the Hessians",
                if has(&g) { &g } else { &h }
            )
        }
        (true, false, _) => {
            let shape = dims(header, &g, 2, "[n, p]: one gradient per row")?;
            let (n, p) = (shape[0], shape[1]);
            let weights = dims(
                header,
                &c,
                1,
                &format!("[{n}]: one weight per row of `{g}`"),
            )?;
            ensure!(
                weights == [n],
                "tensor `{c}` has shape {weights:?}, expected [{n}] (one weight per row of `{g}`)"
            );
            Ok(Some((Form::RankOne, n, p)))
        }
        (false, true, has_c) => {
            ensure!(
                !has_c,
                "tensor `{c}` is present with the dense `{h}`: give `{g}` with `{c}`, or `{h}` alone"
            );
            let shape = dims(header, &h, 3, "[n, p, p]: one Hessian per sample")?;
            ensure!(
                shape[1] == shape[2],
                "tensor `{h}` has shape {shape:?}, expected [n, p, p] (square Hessians)"
            );
            Ok(Some((Form::Dense, shape[0], shape[1])))
        }
        (false, false, true) if gram => {
            let n = dims(header, &c, 1, "one weight per sample")?[0];
            Ok(Some((Form::Gram, n, 0)))
        }
        (false, false, true) => bail!("tensor `{c}` is present without `{g}` (or `gram`)"),
        (false, false, false) => Ok(None),
    }
}

/// Reads and checks the file's layout from its header.
fn layout(header: &Header) -> Result<Layout> {
    if let Some(unknown) = header.tensors.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        bail!(
            "unknown tensor `{unknown}` (a Hessians file holds only {})",
            KNOWN.map(|k| format!("`{k}`")).join(", ")
        );
    }
    let Some((form, n_retain, p)) = family_layout(header, "retain")? else {
        bail!("missing tensor `retain_g` (with `retain_c`), `retain_h`, or `gram` with `retain_c`");
    };
    let forget = family_layout(header, "forget")?;
    let (n_forget, forget_form) = match forget {
        None => (0, form),
        Some((f, n, q)) => {
            ensure!(
                (f == Form::Gram) == (form == Form::Gram),
                "the retain family is {} and the forget family {}: give both in one form",
                form.name(),
                f.name()
            );
            ensure!(
                q == p,
                "the forget family has p = {q}, the retain family p = {p}: both live in the \
                 same parameter space"
            );
            (n, f)
        }
    };
    if form != Form::Gram {
        return Ok(Layout {
            form,
            forget_form,
            n_retain,
            n_forget,
            p,
        });
    }
    let n = n_retain + n_forget;
    let shape = dims(header, "gram", 2, "[n, n] with n = n_r + n_f")?;
    ensure!(
        shape == [n, n],
        "tensor `gram` has shape {shape:?}, expected [{n}, {n}] (n_r = {n_retain} retain \
         rows first, then n_f = {n_forget} forget rows, from `retain_c` and `forget_c`)"
    );
    let params = header
        .metadata
        .get("params")
        .context("`gram` needs the parameter count p as the metadata key `params`")?;
    let p: usize = params
        .trim()
        .parse()
        .ok()
        .filter(|&p| p > 0)
        .with_context(|| format!("metadata `params` = `{params}`: expected an integer p ≥ 1"))?;
    Ok(Layout {
        form,
        forget_form,
        n_retain,
        n_forget,
        p,
    })
}

/// Bytes the analysis holds at its peak for `layout` (see docs/reference.md, "Memory").
fn estimate(layout: &Layout, header: &Header, reps: usize) -> Estimate {
    let Layout {
        form,
        forget_form,
        n_retain,
        n_forget,
        p,
    } = *layout;
    // A dense family dominates: count every sample as dense (an upper estimate).
    let form = if forget_form == Form::Dense {
        Form::Dense
    } else {
        form
    };
    let (n, p) = ((n_retain + n_forget) as f64, p as f64);
    let r = n.min(p);
    let mut e = Estimate::new("frontier stability").arrays(
        "the file read into memory",
        1.0,
        header.file_bytes as f64,
        1.0,
    );
    e = match form {
        Form::RankOne => e
            .arrays(
                "gradients g [n, p]: values, sparse copy, dense Gᵀ",
                3.5,
                n * p,
                8.0,
            )
            .arrays(
                "G·Gᵀ [n, n] (or GᵀG [p, p] when p < n), its blocks and eigenvectors",
                4.0,
                r * r,
                8.0,
            ),
        Form::Dense => e
            .arrays(
                "dense Hessians [n, p, p]: values, matrices, symmetrised",
                3.0,
                n * p * p,
                8.0,
            )
            .arrays("Σ H_i [p, p], its eigenvectors", 3.0, p * p, 8.0)
            .arrays("projected Hessians [n, r, r]", 2.0, n * r * r, 8.0),
        Form::Gram => e.arrays(
            "Gram matrix [n, n]: values, matrix, eigen-solve",
            5.0,
            n * n,
            8.0,
        ),
    };
    e.arrays(
        "projected gradients [n, r] and mean-square operator",
        8.0,
        n * r,
        8.0,
    )
    .arrays(
        format!("outcomes of --reps {reps} simulated runs"),
        1.0,
        reps as f64,
        128.0,
    )
    .arrays(
        "ρ(T) solver: up to 300 Lanczos vectors of r(r+1)/2",
        300.0,
        r * (r + 1.0) / 2.0,
        8.0,
    )
    .arrays(
        "coherence: n×n matrices and their eigen-solves",
        9.0,
        n * n,
        8.0,
    )
    .arrays(
        "pair coherence σ_U: up to 300 Lanczos vectors of n_r·n_f",
        300.0,
        n_retain as f64 * n_forget as f64,
        8.0,
    )
}

/// One rank-one or dense family from the file.
fn family(file: &TensorFile, prefix: &str, form: Form, on: &Reporter) -> Result<Family> {
    let context = || format!("`{prefix}` Hessians");
    match form {
        Form::RankOne => {
            let g = file.get(&format!("{prefix}_g"), 2)?;
            let c = file.get(&format!("{prefix}_c"), 1)?;
            Family::rank_one_row_major(g.shape[1], &g.values, &c.values).with_context(context)
        }
        Form::Dense => {
            let h = file.get(&format!("{prefix}_h"), 3)?;
            let p = h.shape[1];
            let mats = h
                .values
                .chunks_exact(p * p)
                .map(|m| DMatrix::from_row_slice(p, p, m))
                .collect();
            Family::dense_with_progress(mats, on).with_context(context)
        }
        Form::Gram => unreachable!("a Gram file has no per-family Hessians"),
    }
}

/// The curvature of the file whose layout is `layout`.
fn curvature(file: &TensorFile, layout: &Layout, on: &Reporter) -> Result<Curvature> {
    if layout.form == Form::Gram {
        let gram = file.get("gram", 2)?;
        let n = gram.shape[0];
        let c_retain = file.get("retain_c", 1)?;
        let c_forget = file
            .contains("forget_c")
            .then(|| file.get("forget_c", 1))
            .transpose()?;
        return Curvature::from_gram(
            &DMatrix::from_row_slice(n, n, &gram.values),
            &c_retain.values,
            c_forget.as_ref().map(|c| c.values.as_slice()),
            layout.p,
        )
        .context("tensor `gram`");
    }
    let retain = family(file, "retain", layout.form, on)?;
    let forget = (layout.n_forget > 0)
        .then(|| family(file, "forget", layout.forget_form, on))
        .transpose()?;
    Ok(Curvature::with_progress(&retain, forget.as_ref(), on)?)
}

/// Loads the Hessians and runs every criterion: flags, header, settings and memory first.
pub fn run(path: &Path, args: &Args, budget: &Budget) -> Result<Output> {
    let settings = Settings {
        batch_forget: args.batch_forget,
        sampling: args.sampling,
        ..Settings::new(args.eta, args.alpha, args.batch)
    };
    let header = read_header(path)?;
    let layout = layout(&header).with_context(|| path.display().to_string())?;
    let sim = SimOptions {
        init: if layout.form == Form::Gram {
            InitialState::Normal
        } else {
            args.sim.init
        },
        ..args.sim
    };
    sim.validate().map_err(flag_error)?;
    settings
        .validate(layout.n_retain, layout.n_forget)
        .map_err(flag_error)?;
    let forget = args
        .escape
        .as_ref()
        .map(|e| e.forget(layout.n_forget))
        .transpose()?;
    estimate(&layout, &header, sim.reps).check(budget)?;
    if layout.form == Form::Dense || layout.forget_form == Form::Dense {
        announce_dense(&layout);
    }
    let progress = Mode::detect(false).reporter("stability");
    let file = TensorFile::open(path)?;
    let curvature = curvature(&file, &layout, &progress)?;
    drop(file);
    let problem = Problem::new(&curvature, settings)?;
    let report = frontier_stability::report::analyze_with_progress(&problem, &sim, &progress)?;
    let escape = forget
        .map(|f| -> Result<EscapeTime> {
            let first = FirstMoment {
                lambda_min: report.lambda_min_h_alpha,
                lambda_max: report.lambda_max_h_alpha,
            };
            let lambda = Thresholds::DEFAULT.unstable_lambda(&first);
            Ok(EscapeTime::new(report.eta, lambda, &f.shape()?))
        })
        .transpose()?;
    Ok(Output {
        escape_rate: escape.map(|e| e.kappa),
        escape_shape_factor: escape.map(|e| e.shape_factor),
        escape_steps_predicted: escape.map(|e| e.steps),
        escape_within_steps: escape
            .map(|e| Thresholds::DEFAULT.finite_budget(e.steps, report.steps)),
        report,
    })
}

/// Names the command-line flag of a settings error (`batch_retain` is `--batch`).
fn flag_error(e: frontier_stability::Error) -> anyhow::Error {
    let flag = match &e {
        frontier_stability::Error::OutOfRange { field, .. } => match *field {
            "batch_retain" => "--batch",
            "batch_forget" => "--batch-forget",
            "eta" => "--eta",
            "alpha" => "--alpha",
            "steps" => "--steps",
            "reps" => "--reps",
            "threshold" => "--threshold",
            "forget_loss" => "--forget-loss",
            "forget_grad_norm" => "--forget-grad-norm",
            "radius" => "--radius",
            _ => "",
        },
        _ => "",
    };
    if flag.is_empty() {
        e.into()
    } else {
        anyhow::anyhow!("{flag}: {e}")
    }
}

/// Dense Hessians cost O(n·p³) before the analysis starts: says how much, on stderr, when it
/// is more than about a second. The rates are this project's measurements of nalgebra on its
/// 2-core CPU (eigenvalues of a p×p matrix 0.7·p³ ns, with eigenvectors 2·p³ ns, GEMM 15
/// GFLOP/s).
fn announce_dense(layout: &Layout) {
    let (n, p) = ((layout.n_retain + layout.n_forget) as f64, layout.p as f64);
    let seconds = n * 0.7e-9 * p.powi(3) + 2e-9 * p.powi(3) + n * 4.0 * p.powi(3) / 15e9;
    if seconds > 1.0 {
        eprintln!(
            "dense Hessians, n = {n}, p = {p}: checking and projecting them takes about {seconds:.0} s \
             (O(n·p³); progress follows)"
        );
    }
}

/// Generated hostile Hessians files and flags: the loader and the analysis return a report or
/// an error, never panic.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// (name, shape, values) of one generated tensor.
    type Spec = (String, Vec<usize>, Vec<f64>);

    fn tensor() -> impl Strategy<Value = Spec> {
        let name = prop_oneof![
            prop::sample::select(KNOWN.to_vec()).prop_map(str::to_string),
            Just("forget_G".to_string()),
        ];
        let shape = prop::collection::vec(0usize..4, 0..4);
        let entry = prop_oneof![
            8 => -2.0..2.0f64,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(0.0),
        ];
        (name, shape).prop_flat_map(move |(name, shape)| {
            let len: usize = shape.iter().product();
            prop::collection::vec(entry.clone(), len)
                .prop_map(move |values| (name.clone(), shape.clone(), values))
        })
    }

    /// Writes `tensors` (f64, with the metadata `params` if given) to `path`; false when the
    /// names collide (the safetensors serializer itself panics on that).
    fn write(path: &Path, tensors: &[Spec], params: &Option<String>) -> bool {
        let names: std::collections::HashSet<&String> = tensors.iter().map(|t| &t.0).collect();
        if names.len() < tensors.len() {
            return false;
        }
        let host: Vec<_> = tensors
            .iter()
            .map(|(name, shape, values)| {
                crate::tensors::HostTensor::new(name, shape.clone(), values.clone())
            })
            .collect();
        let metadata = params
            .iter()
            .map(|p| ("params".to_string(), p.clone()))
            .collect();
        crate::tensors::write_with_metadata(path, &host, frontier_model::Precision::F64, metadata)
            .is_ok()
    }

    /// Files with the right names and shapes (rank one, dense or Gram; with or without a
    /// forget family) whose values may be anything.
    fn well_formed() -> impl Strategy<Value = Vec<Spec>> {
        let entry = prop_oneof![
            12 => -2.0..2.0f64,
            1 => Just(f64::NAN),
            1 => Just(-1e308),
            2 => Just(0.0),
        ];
        (1usize..5, 0usize..4, 1usize..4, 0usize..3).prop_flat_map(move |(n_r, n_f, p, form)| {
            let values = |len: usize| prop::collection::vec(entry.clone(), len);
            let family = move |prefix: &'static str, n: usize| -> BoxedStrategy<Vec<Spec>> {
                match form {
                    0 => (values(n * p), values(n))
                        .prop_map(move |(g, c)| {
                            vec![
                                (format!("{prefix}_g"), vec![n, p], g),
                                (format!("{prefix}_c"), vec![n], c),
                            ]
                        })
                        .boxed(),
                    1 => values(n * p * p)
                        .prop_map(move |h| vec![(format!("{prefix}_h"), vec![n, p, p], h)])
                        .boxed(),
                    _ => values(n)
                        .prop_map(move |c| vec![(format!("{prefix}_c"), vec![n], c)])
                        .boxed(),
                }
            };
            let n = n_r + n_f;
            let gram = values(n * n).prop_map(move |k| {
                if form == 2 {
                    vec![("gram".to_string(), vec![n, n], k)]
                } else {
                    Vec::new()
                }
            });
            let forget = if n_f > 0 {
                family("forget", n_f)
            } else {
                Just(Vec::new()).boxed()
            };
            (family("retain", n_r), forget, gram).prop_map(|(mut a, b, c)| {
                a.extend(b);
                a.extend(c);
                a
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn well_formed_files_with_any_values_never_panic(
            tensors in well_formed(),
            alpha in prop_oneof![Just(0.0), Just(0.5)],
            batch in 1usize..3,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("h.safetensors");
            prop_assert!(write(&path, &tensors, &Some("3".into())));
            let args = Args {
                eta: 0.1,
                alpha,
                batch,
                batch_forget: None,
                sampling: Sampling::Without,
                sim: SimOptions { steps: 20, reps: 2, ..SimOptions::default() },
                escape: None,
            };
            let budget = Budget { bytes: 1e8, source: "test".into() };
            let _ = run(&path, &args, &budget);
        }

        #[test]
        fn hostile_files_and_flags_never_panic(
            tensors in prop::collection::vec(tensor(), 0..5),
            params in prop::option::of(prop_oneof![Just("3".to_string()), Just("0".to_string()), "\\PC{0,4}"]),
            cut in prop::option::of(0usize..64),
            eta in prop_oneof![Just(0.1), Just(0.0), Just(-1.0), Just(f64::NAN), Just(1e300)],
            alpha in prop_oneof![Just(0.0), Just(0.5), Just(1.0), Just(1.5)],
            batch in 0usize..4,
            batch_forget in prop::option::of(0usize..4),
            steps in 0usize..6,
            reps in 0usize..3,
            threshold in prop_oneof![Just(0.5), Just(2.0), Just(f64::INFINITY), Just(f64::NAN)],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("h.safetensors");
            if !write(&path, &tensors, &params) {
                return Ok(());
            }
            if let Some(cut) = cut {
                let bytes = std::fs::read(&path).unwrap();
                std::fs::write(&path, &bytes[..bytes.len().saturating_sub(cut)]).unwrap();
            }
            let args = Args {
                eta,
                alpha,
                batch,
                batch_forget,
                sampling: Sampling::Without,
                sim: SimOptions { steps, reps, threshold, ..SimOptions::default() },
                escape: None,
            };
            let budget = Budget { bytes: 1e8, source: "test".into() };
            let _ = run(&path, &args, &budget);
        }
    }
}
