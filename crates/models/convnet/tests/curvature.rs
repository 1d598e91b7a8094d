//! Exact and Gauss–Newton curvature of the convnet through the probes' generic path, against
//! independent references: a model linear in its parameters (where the two are equal), dense
//! finite differences of Burn-autodiff loss gradients (where they are not), and the dense
//! per-sample Hessians behind the Hutchinson estimates.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use frontier_convnet::{Convnet, ConvnetConfig};
use frontier_model::{GaussNewton, Loss, Model, Precision, tensor_from, to_f64};
use frontier_probes::{
    CoherenceReport, CurvatureMethod, GenericCoherenceReport, GenericOptions, coherence_report,
    generic_coherence_report, per_sample_hessians,
};
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn uniform(len: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(lo..hi)).collect()
}

/// f(w, x) = ⟨w, x⟩ over the flattened input: linear in its parameters, so ∇²f = 0 and the
/// Gauss–Newton curvature ℓ'' x xᵀ is the whole Hessian.
#[derive(Module, Debug)]
struct Linear {
    w: Param<Tensor<1>>,
}

impl Model for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn param_count(&self) -> usize {
        self.w.dims()[0]
    }

    fn params(&self) -> Tensor<1> {
        self.w.val()
    }

    fn set_params(&mut self, w: Tensor<1>) {
        self.w = Param::from_tensor(w);
    }

    fn scores_at(&self, w: Tensor<1>, x: Tensor<3>) -> Tensor<1> {
        let [n, patches, d] = x.dims();
        let p = patches * d;
        x.reshape([n, p]).matmul(w.reshape([p, 1])).reshape([n])
    }
}

/// n = 8 samples, labels ±1, samples 5..8 forgotten (already retain first).
fn labels(device: &Device) -> (Tensor<1>, Vec<bool>) {
    let y: Vec<f64> = (0..8)
        .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect();
    (
        tensor_from(&y, [8], device, Precision::F64),
        (0..8).map(|i| i >= 5).collect(),
    )
}

/// A convnet with p = 61 ≤ 64 (1 channel, 5×5 images, c₁ = c₂ = 2, valid padding: 5×5 →
/// 3×3 → 1×1), weights and inputs drawn far from every ReLU kink (checked), n = 8 inputs.
fn tiny_convnet() -> (Convnet, Tensor<3>) {
    let device = Device::flex();
    let cfg = ConvnetConfig {
        height: 5,
        width: 5,
        conv1: 2,
        conv2: 2,
        padding: 0,
        ..ConvnetConfig::default()
    };
    let layout = cfg.layout(1);
    let w = uniform(layout.param_count(), -1.0, 1.0, 21);
    let xs = uniform(8 * 25, 0.0, 1.0, 22);
    let net = Convnet::from_flat(layout, tensor_from(&w, [w.len()], &device, Precision::F64));
    let x = tensor_from(&xs, [8, 1, 25], &device, Precision::F64);
    assert_eq!(net.param_count(), 61);
    // The reference's finite-difference shifts (1e-6 per coordinate) move a pre-activation
    // by at most ~1e-5: far below this margin (0.0085 here), so no kink lies in between.
    let margin = net.kink_margin(x.clone());
    assert!(
        margin > 1e-3,
        "a pre-activation sits at {margin} from a ReLU kink"
    );
    (net, x)
}

/// ‖a − b‖_F / ‖b‖_F.
fn rel(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    (a - b).norm() / b.norm()
}

/// The Gauss–Newton per-sample Hessians c_i g_i g_iᵀ of `model`.
fn gauss_newton_hessians<M: Model>(
    model: &M,
    loss: Loss,
    x: Tensor<3>,
    y: Tensor<1>,
) -> Vec<DMatrix<f64>> {
    let n = y.dims()[0];
    let p = model.param_count();
    let g = to_f64(model.score_grads(x.clone()));
    let c = to_f64(loss.d2(model.scores(x), y));
    (0..n)
        .map(|i| {
            let gi = DVector::from_column_slice(&g[i * p..(i + 1) * p]);
            &gi * gi.transpose() * c[i]
        })
        .collect()
}

/// The exact report (generic path with default options: dense for p ≤ 64) and the
/// Gauss–Newton one (Gram shortcut) of `model` at α = 0.3. The generic path ignores
/// `rank_one_hessians`, so a [`GaussNewton`] wrapper changes only the second.
fn both_reports<M: Model>(
    model: &M,
    loss: Loss,
    x: &Tensor<3>,
    y: &Tensor<1>,
    forget: &[bool],
) -> (GenericCoherenceReport, CoherenceReport) {
    let alpha = 0.3;
    let exact = generic_coherence_report(
        model,
        loss,
        x.clone(),
        y.clone(),
        forget,
        alpha,
        &GenericOptions::default(),
    )
    .unwrap();
    let shortcut = coherence_report(model, loss, x.clone(), y.clone(), forget, alpha).unwrap();
    (exact, shortcut)
}

#[test]
fn gauss_newton_is_the_exact_hessian_of_a_model_linear_in_its_parameters() {
    let device = Device::flex();
    let w = uniform(12, -0.5, 0.5, 1);
    let model = Linear {
        w: Param::from_tensor(tensor_from(&w, [12], &device, Precision::F64)),
    };
    let x = tensor_from(
        &uniform(8 * 12, -1.0, 1.0, 2),
        [8, 2, 6],
        &device,
        Precision::F64,
    );
    let (y, forget) = labels(&device);
    for loss in [Loss::Logistic, Loss::Squared] {
        let exact = per_sample_hessians(&model, loss, x.clone(), y.clone(), 1e-5).unwrap();
        let gn = gauss_newton_hessians(&model, loss, x.clone(), y.clone());
        for (i, (e, g)) in exact.iter().zip(&gn).enumerate() {
            let err = rel(e, g);
            assert!(err < 1e-8, "{loss:?} sample {i}: ‖exact − GN‖/‖GN‖ = {err}");
        }
        let (dense, shortcut) = both_reports(&model, loss, &x, &y, &forget);
        for (name, e, g) in [
            ("sigma", dense.report.sigma, shortcut.sigma),
            ("sigma_r", dense.report.sigma_r, shortcut.sigma_r),
            ("sigma_f", dense.report.sigma_f, shortcut.sigma_f),
            ("sigma_rf", dense.report.sigma_rf, shortcut.sigma_rf),
            ("trace_h", dense.report.trace_h, shortcut.trace_h),
        ] {
            assert!(
                (e - g).abs() <= 1e-6 * g.abs(),
                "{loss:?} {name}: exact rust={e}, Gauss–Newton reference={g}"
            );
        }
    }
}

/// The exact per-sample Hessians of the convnet, by central differences of Burn-autodiff
/// loss gradients of one sample at w* ± h e_k (the true network, not the probes' held-gate
/// gradients): an independent reference.
fn autodiff_fd_hessians(net: &Convnet, loss: Loss, x: &Tensor<3>, y: &[f64]) -> Vec<DMatrix<f64>> {
    let device = Device::flex();
    let p = net.param_count();
    let w0 = to_f64(net.params());
    let h = 1e-6;
    (0..y.len())
        .map(|i| {
            let xi = x.clone().narrow(0, i, 1);
            let yi = tensor_from(&y[i..=i], [1], &device, Precision::F64);
            let one = tensor_from(&[1.0], [1], &device, Precision::F64);
            let grad = |w: &[f64]| {
                let mut at = net.clone();
                at.set_params(tensor_from(w, [p], &device, Precision::F64));
                to_f64(at.loss_grad(loss, xi.clone(), yi.clone(), one.clone()))
            };
            let mut hess = DMatrix::zeros(p, p);
            for k in 0..p {
                let (mut plus, mut minus) = (w0.clone(), w0.clone());
                plus[k] += h;
                minus[k] -= h;
                let (gp, gm) = (grad(&plus), grad(&minus));
                for r in 0..p {
                    hess[(r, k)] = (gp[r] - gm[r]) / (2.0 * h);
                }
            }
            (&hess + hess.transpose()) * 0.5
        })
        .collect()
}

/// On the convnet the two curvatures differ: ℓ'_i ∇²f_i is not small at random weights.
/// Measured (logistic loss, this seed): on the 5 of 8 samples where a ReLU of the last layer
/// is on, the relative Frobenius distance ‖GN_i − H_i‖/‖H_i‖ is 0.67 to 0.82; on the 3 where
/// every last-layer ReLU is off, f is the read-out bias alone, ∇²f_i = 0 and the two agree
/// to 2e-10. The test asks for every sample to be one or the other (> 0.5 or < 1e-8, at
/// least four above), for the exact Hessians to match an independent autodiff reference to
/// 1e-6, and for σ_R to differ by more than 30 % (measured: exact 1.32, Gauss–Newton 2.36).
#[test]
fn gauss_newton_differs_from_the_exact_hessian_of_the_convnet() {
    let (net, x) = tiny_convnet();
    let device = Device::flex();
    let (y, forget) = labels(&device);
    let loss = Loss::Logistic;
    let exact = per_sample_hessians(&net, loss, x.clone(), y.clone(), 1e-5).unwrap();
    let reference = autodiff_fd_hessians(&net, loss, &x, &to_f64(y.clone()));
    let gn = gauss_newton_hessians(&net, loss, x.clone(), y.clone());
    let mut gaps = Vec::new();
    for i in 0..8 {
        let err = rel(&exact[i], &reference[i]);
        assert!(
            err < 1e-6,
            "sample {i}: exact rust vs autodiff reference: {err}"
        );
        gaps.push(rel(&gn[i], &exact[i]));
    }
    println!("‖GN_i − H_i‖/‖H_i‖ per sample: {gaps:?}");
    assert!(
        gaps.iter().all(|&g| !(1e-8..=0.5).contains(&g))
            && gaps.iter().filter(|&&g| g > 0.5).count() >= 4,
        "Gauss–Newton versus exact: {gaps:?}"
    );
    let (e, g) = both_reports(&GaussNewton(net), loss, &x, &y, &forget);
    println!("exact: {:?}\nGauss–Newton: {g:?}", e.report);
    assert_eq!(e.method, CurvatureMethod::Dense);
    let gap = (g.sigma_r - e.report.sigma_r).abs() / e.report.sigma_r;
    assert!(
        gap > 0.3,
        "σ_R: GN rust={}, exact={}",
        g.sigma_r,
        e.report.sigma_r
    );
}

/// The exact coherence by Hutchinson probes equals the coherence of the dense
/// finite-difference per-sample Hessians within 4 standard errors (plus 1e-6 relative).
#[test]
fn hutchinson_exact_coherence_matches_dense_hessians_within_its_error() {
    let (net, x) = tiny_convnet();
    let device = Device::flex();
    let (y, forget) = labels(&device);
    let (loss, alpha) = (Loss::Logistic, 0.3);
    let run = |options: &GenericOptions| {
        generic_coherence_report(&net, loss, x.clone(), y.clone(), &forget, alpha, options).unwrap()
    };
    let dense = run(&GenericOptions::default());
    let hut = run(&GenericOptions {
        dense_max_params: 0,
        probes: 400,
        ..GenericOptions::default()
    });
    assert_eq!(
        (dense.method, hut.method),
        (CurvatureMethod::Dense, CurvatureMethod::Hutchinson)
    );
    assert!(hut.converged);
    let se = hut.std_error;
    for (name, h, d, se) in [
        ("sigma", hut.report.sigma, dense.report.sigma, se.sigma),
        (
            "sigma_r",
            hut.report.sigma_r,
            dense.report.sigma_r,
            se.sigma_r,
        ),
        (
            "sigma_f",
            hut.report.sigma_f,
            dense.report.sigma_f,
            se.sigma_f,
        ),
        (
            "sigma_rf",
            hut.report.sigma_rf,
            dense.report.sigma_rf,
            se.sigma_rf,
        ),
        (
            "trace_h",
            hut.report.trace_h,
            dense.report.trace_h,
            se.trace_h,
        ),
    ] {
        assert!(
            se > 0.0 && se < 0.2 * d.abs(),
            "{name}: standard error {se}"
        );
        assert!(
            (h - d).abs() <= 4.0 * se + 1e-6 * d.abs(),
            "{name}: Hutchinson rust={h} ± {se}, dense reference={d}"
        );
    }
    for (name, h, d) in [
        (
            "lambda_max_h",
            hut.report.lambda_max_h,
            dense.report.lambda_max_h,
        ),
        (
            "lambda_min_h_alpha",
            hut.report.lambda_min_h_alpha,
            dense.report.lambda_min_h_alpha,
        ),
        (
            "lambda_max_h_alpha",
            hut.report.lambda_max_h_alpha,
            dense.report.lambda_max_h_alpha,
        ),
    ] {
        let scale = dense.report.lambda_max_h.abs();
        assert!(
            (h - d).abs() <= 1e-6 * scale,
            "{name}: Lanczos rust={h}, dense reference={d}"
        );
    }
}

/// Held gates: at the model's own parameters `piece_grads` is `score_grads`; away from them
/// the gradients are a polynomial of degree 2 in the step, so central differences with a
/// large and a small step agree.
#[test]
fn piece_gradients_are_a_polynomial_piece() {
    let (net, x) = tiny_convnet();
    let device = Device::flex();
    let w0 = to_f64(net.params());
    let (f, g) = net.piece_grads(net.params(), x.clone());
    assert_eq!(to_f64(g), to_f64(net.score_grads(x.clone())));
    assert_eq!(to_f64(f), to_f64(net.scores(x.clone())));
    let v = uniform(w0.len(), -1.0, 1.0, 5);
    let at = |s: f64| {
        let w: Vec<f64> = w0.iter().zip(&v).map(|(a, b)| a + s * b).collect();
        to_f64(
            net.piece_grads(
                tensor_from(&w, [w.len()], &device, Precision::F64),
                x.clone(),
            )
            .1,
        )
    };
    let central = |h: f64| -> Vec<f64> {
        at(h)
            .iter()
            .zip(at(-h))
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect()
    };
    let (big, small) = (central(0.5), central(1e-4));
    let scale = small.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for (a, b) in big.iter().zip(&small) {
        assert!((a - b).abs() <= 1e-9 * scale, "h = 0.5: {a}, h = 1e-4: {b}");
    }
}
