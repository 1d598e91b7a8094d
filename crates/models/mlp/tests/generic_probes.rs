//! The MLP through the generic curvature path of `frontier-probes`, against its analytic
//! per-sample Hessians, and MLP pre-training.

use burn::tensor::{Device, Tensor};
use frontier_mlp::{Activation, Mlp, MlpConfig};
use frontier_model::{
    DataConfig, Dataset, DeviceData, Loss, Model, Precision, TrainConfig, pretrain, tensor_from,
    to_f64,
};
use frontier_probes::{
    CurvatureGram, CurvatureMethod, GenericOptions, coherence, generic_coherence_report,
    hutchinson_gram, per_sample_hessians,
};
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// n = 6 inputs of shape [2, 3] (D = 6), h = 3 (p = 24), weights of order 1 so that the
/// activation is curved; samples 4 and 5 are the forget set (already retain first).
struct Case {
    mlp: Mlp,
    xs: Vec<f64>,
    ys: Vec<f64>,
    x: Tensor<3>,
    y: Tensor<1>,
    forget: Vec<bool>,
}

fn case(activation: Activation) -> Case {
    let (n, patches, d) = (6, 2, 3);
    let device = Device::flex();
    let cfg = MlpConfig {
        hidden: 3,
        activation,
        sigma_0: 0.6,
        sigma_1: 1.0,
        seed: 3,
    };
    let mlp = cfg.init([patches, d], &device, Precision::F64).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let xs: Vec<f64> = (0..n * patches * d)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let ys: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    Case {
        x: tensor_from(&xs, [n, patches, d], &device, Precision::F64),
        y: tensor_from(&ys, [n], &device, Precision::F64),
        mlp,
        xs,
        ys,
        forget: (0..n).map(|i| i >= 4).collect(),
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// H_i = ℓ''_i g_i g_iᵀ + ℓ'_i ∇²f_i in closed form, on the host in f64. With
/// z_k = W_k·x + b_k: ∂²f/∂W_k∂W_k = v_k act''(z_k) x xᵀ (and the b_k rows with x = 1),
/// ∂²f/∂W_k∂v_k = act'(z_k) x, ∂²f/∂b_k∂v_k = act'(z_k); every other block is 0.
fn analytic_hessians(c: &Case, loss: Loss) -> Vec<DMatrix<f64>> {
    let (h, dim) = c.mlp.dims();
    let p = c.mlp.param_count();
    let w = to_f64(c.mlp.params());
    let (bias, out) = (h * dim, h * dim + h);
    let act = |z: f64| -> [f64; 3] {
        match c.mlp.activation {
            Activation::Softplus => {
                let s = sigmoid(z);
                [z.exp().ln_1p(), s, s * (1.0 - s)]
            }
            Activation::Tanh => {
                let t = z.tanh();
                [t, 1.0 - t * t, -2.0 * t * (1.0 - t * t)]
            }
        }
    };
    (0..c.ys.len())
        .map(|i| {
            let x = &c.xs[i * dim..(i + 1) * dim];
            // x̃ = (x, 1): the W_k row and b_k share every formula.
            let idx = |k: usize, j: usize| if j < dim { k * dim + j } else { bias + k };
            let xt = |j: usize| if j < dim { x[j] } else { 1.0 };
            let mut g = DVector::zeros(p);
            let mut hf = DMatrix::zeros(p, p);
            let mut f = 0.0;
            for k in 0..h {
                let z = w[bias + k] + (0..dim).map(|j| w[k * dim + j] * x[j]).sum::<f64>();
                let [a, a1, a2] = act(z);
                let v = w[out + k];
                f += v * a;
                g[out + k] = a;
                for j in 0..=dim {
                    g[idx(k, j)] = v * a1 * xt(j);
                    hf[(idx(k, j), out + k)] = a1 * xt(j);
                    hf[(out + k, idx(k, j))] = a1 * xt(j);
                    for l in 0..=dim {
                        hf[(idx(k, j), idx(k, l))] = v * a2 * xt(j) * xt(l);
                    }
                }
            }
            let y = c.ys[i];
            let (d1, d2) = match loss {
                Loss::Logistic => (-y * sigmoid(-y * f), sigmoid(y * f) * sigmoid(-y * f)),
                Loss::Squared => (f - y, 1.0),
            };
            &g * g.transpose() * d2 + hf * d1
        })
        .collect()
}

fn rel(a: f64, b: f64, floor: f64) -> f64 {
    (a - b).abs() / b.abs().max(floor)
}

#[test]
fn finite_difference_hessians_equal_the_analytic_ones() {
    for act in [Activation::Softplus, Activation::Tanh] {
        for loss in [Loss::Logistic, Loss::Squared] {
            let c = case(act);
            let fd = per_sample_hessians(&c.mlp, loss, c.x.clone(), c.y.clone(), 1e-5).unwrap();
            for (i, (a, b)) in fd.iter().zip(analytic_hessians(&c, loss)).enumerate() {
                let err = (a - &b).norm() / b.norm();
                assert!(
                    err < 1e-7,
                    "{act:?} {loss:?} sample {i}: relative error {err}"
                );
            }
        }
    }
}

/// Dense mode: the generic report equals the coherence of the analytic per-sample Hessians,
/// and tr(H), λ_max(H), λ_min/λ_max(H_α) of their dense weighted sums, to 1e-6 relative.
#[test]
fn dense_generic_coherence_equals_the_dense_hessians() {
    for act in [Activation::Softplus, Activation::Tanh] {
        let c = case(act);
        let (loss, alpha) = (Loss::Logistic, 0.3);
        let g = generic_coherence_report(
            &c.mlp,
            loss,
            c.x.clone(),
            c.y.clone(),
            &c.forget,
            alpha,
            &GenericOptions::default(),
        )
        .unwrap();
        assert_eq!(g.method, CurvatureMethod::Dense);
        let hs = analytic_hessians(&c, loss);
        let s = coherence(&CurvatureGram::from_dense(&hs, 4), alpha);
        let mean = |w: &[f64]| {
            hs.iter()
                .zip(w)
                .fold(DMatrix::zeros(24, 24), |acc, (h, w)| acc + h * *w)
        };
        let h_eig = mean(&[1.0 / 6.0; 6]).symmetric_eigenvalues();
        let ha = [
            0.7 / 4.0,
            0.7 / 4.0,
            0.7 / 4.0,
            0.7 / 4.0,
            -0.3 / 2.0,
            -0.3 / 2.0,
        ];
        let ha_eig = mean(&ha).symmetric_eigenvalues();
        let trace = hs.iter().map(|h| h.trace()).sum::<f64>() / 6.0;
        let r = &g.report;
        let scale = h_eig.amax();
        for (name, rust, reference, floor) in [
            ("sigma", r.sigma, s.sigma, 1e-300),
            ("sigma_r", r.sigma_r, s.sigma_r, 1e-300),
            ("sigma_f", r.sigma_f, s.sigma_f, 1e-300),
            ("sigma_rf", r.sigma_rf, s.sigma_rf, 1e-300),
            ("sigma_u", r.sigma_u, s.sigma_u, 1e-300),
            ("sigma_u_signed", r.sigma_u_signed, s.sigma_u_signed, 1e-300),
            ("trace_h", r.trace_h, trace, scale),
            ("lambda_max_h", r.lambda_max_h, h_eig.max(), scale),
            (
                "lambda_min_h_alpha",
                r.lambda_min_h_alpha,
                ha_eig.min(),
                scale,
            ),
            (
                "lambda_max_h_alpha",
                r.lambda_max_h_alpha,
                ha_eig.max(),
                scale,
            ),
        ] {
            assert!(
                rel(rust, reference, floor) < 1e-6,
                "{act:?} {name}: rust={rust}, reference={reference}"
            );
        }
    }
}

/// Hutchinson mode against the dense one: K entry-wise within 5 standard errors, σ, σ_R, σ_F,
/// σ_RF and tr(H) within 4 standard errors, the spectra to 1e-6, σ_U a lower bound.
#[test]
fn hutchinson_generic_coherence_agrees_within_the_standard_error() {
    let c = case(Activation::Softplus);
    let (loss, alpha) = (Loss::Logistic, 0.3);
    let run = |options: &GenericOptions| {
        generic_coherence_report(
            &c.mlp,
            loss,
            c.x.clone(),
            c.y.clone(),
            &c.forget,
            alpha,
            options,
        )
        .unwrap()
    };
    let dense = run(&GenericOptions::default());
    let options = GenericOptions {
        dense_max_params: 0,
        probes: 400,
        ..GenericOptions::default()
    };
    let hut = run(&options);
    assert_eq!((hut.method, hut.probes), (CurvatureMethod::Hutchinson, 400));
    assert!(hut.converged);

    let k = hutchinson_gram(&c.mlp, loss, c.x.clone(), c.y.clone(), 4, &options).unwrap();
    let exact = CurvatureGram::from_dense(&analytic_hessians(&c, loss), 4);
    for i in 0..6 {
        for j in 0..6 {
            let (est, se, want) = (k.gram.k[(i, j)], k.k_std_error[(i, j)], exact.k[(i, j)]);
            assert!(
                (est - want).abs() <= 5.0 * se,
                "K[{i},{j}]: rust={est} ± {se}, reference={want}"
            );
        }
        // Solved: exact; skipped: a lower bound.
        if k.solved[i] {
            assert!(rel(k.gram.lambda_max[i], exact.lambda_max[i], 1e-300) < 1e-6);
        } else {
            assert!(k.gram.lambda_max[i] <= exact.lambda_max[i] * (1.0 + 1e-9));
        }
    }
    // The maximum of each set is solved.
    for range in [0..4, 4..6] {
        let max = |l: &[f64]| l[range.clone()].iter().fold(f64::MIN, |m, &x| m.max(x));
        let (got, want) = (max(&k.gram.lambda_max), max(&exact.lambda_max));
        assert!(
            rel(got, want, 1e-300) < 1e-6,
            "max λ: rust={got}, reference={want}"
        );
    }

    let (h, d, se) = (&hut.report, &dense.report, hut.std_error);
    for (name, rust, reference, se) in [
        ("sigma", h.sigma, d.sigma, se.sigma),
        ("sigma_r", h.sigma_r, d.sigma_r, se.sigma_r),
        ("sigma_f", h.sigma_f, d.sigma_f, se.sigma_f),
        ("sigma_rf", h.sigma_rf, d.sigma_rf, se.sigma_rf),
        ("trace_h", h.trace_h, d.trace_h, se.trace_h),
    ] {
        assert!(
            se > 0.0 && se < 0.2 * reference.abs(),
            "{name}: standard error {se}"
        );
        assert!(
            (rust - reference).abs() <= 4.0 * se,
            "{name}: Hutchinson rust={rust} ± {se}, dense reference={reference}"
        );
    }
    for (name, rust, reference) in [
        ("lambda_max_h", h.lambda_max_h, d.lambda_max_h),
        (
            "lambda_min_h_alpha",
            h.lambda_min_h_alpha,
            d.lambda_min_h_alpha,
        ),
        (
            "lambda_max_h_alpha",
            h.lambda_max_h_alpha,
            d.lambda_max_h_alpha,
        ),
    ] {
        assert!(
            rel(rust, reference, d.lambda_max_h) < 1e-6,
            "{name}: Hutchinson rust={rust}, dense reference={reference}"
        );
    }
    assert!(
        h.sigma_u <= d.sigma_u + 4.0 * se.sigma_u,
        "{} vs {}",
        h.sigma_u,
        d.sigma_u
    );
    println!("dense: {d:?}\nhutchinson: {h:?}\nstd errors: {se:?}");
}

/// Full-batch gradient descent on a tiny, linearly separable signal-plus-noise set.
#[test]
fn pretraining_reaches_a_low_loss() {
    let device = Device::flex();
    let data = Dataset::generate(&DataConfig {
        n: 20,
        n_test: 50,
        d: 20,
        snr: 1.0,
        n_forget: 2,
        ..DataConfig::default()
    })
    .unwrap();
    let data = DeviceData::new(&data, &device, Precision::F32);
    let mut mlp = MlpConfig {
        hidden: 8,
        ..MlpConfig::default()
    }
    .init(
        [data.x.dims()[1], data.x.dims()[2]],
        &device,
        Precision::F32,
    )
    .unwrap();
    let cfg = TrainConfig {
        eta: 0.5,
        max_steps: 500,
        loss_tol: 0.02,
        ..TrainConfig::default()
    };
    let report = pretrain(&mut mlp, &data, &cfg).unwrap();
    println!("{report:?}");
    assert!(report.converged && report.final_loss < 0.02, "{report:?}");
    assert_eq!(report.train_accuracy, 1.0, "{report:?}");
    assert!(report.test_accuracy >= 0.9, "{report:?}");
}
