//! Finite-budget escape: how many unlearning steps a run needs to leave the pre-trained
//! minimum, T̂_esc = L/κ, and whether that fits a budget of K steps (T̂_esc ≤ K). Pure
//! functions of numbers measured at w*; the derivation is in `docs/science.md` ("The
//! escape-time rule").
//!
//! - κ = ln(1 + η·|λ_min(H_α)|) ([`escape_rate`]): the growth per step of the most unstable
//!   direction of the linearised step (0 when λ_min(H_α) ≥ 0: no escape).
//! - L ([`ForgetAtOptimum::shape`]), the loss-shape factor: the number of e-folds the escape
//!   needs, derived from the loss, no fitted constant. Along the unstable forget direction a
//!   forget margin m moves as dm/dk = −a·|ℓ'(m)|, with κ = a·ℓ''(m₀), so the steps from m₀
//!   to the escape margin are k = L/κ with L = ℓ''(m₀)·∫ dm/|ℓ'(m)| over the path.
//!   - Logistic (ℓ = ln(1 + e^{−m})): the margin falls by Δ from m₀, and
//!     L = ℓ''(m₀)·Δ + s(m₀)²·(1 − e^{−Δ}) (s the sigmoid), ≈ 1 + ℓ₀Δ for a large m₀.
//!   - Squared (ℓ = ½(m − 1)², residual r = m − 1): |r| grows by Δ from |r₀|, and
//!     L = ln(1 + Δ/|r₀|).
//!
//! What the numbers mean \[choice\]: m₀ (or |r₀|) is the margin (residual) of a forget sample
//! whose loss equals the mean forget loss at w*; ‖g_f‖ is the root mean square of the forget
//! samples' score gradients ‖∇_w f(x_j)‖ at w*; R is the escape radius. Δ is the change of
//! the escaping forget score once ‖w − w*‖ = R, and differs between the losses because the
//! escapes do:
//! - logistic: the margins blow up in finite time, after which they fall linearly, all forget
//!   samples together; the displacement R is shared by the n_f forget directions, each moving
//!   R/√n_f along its unit gradient: Δ = R·‖g_f‖/√n_f;
//! - squared: the growth stays exponential up to the escape, so the fastest direction alone
//!   carries the displacement: Δ = R·‖g_f‖.

use serde::Serialize;

use crate::error::{Error, Result};

/// A loss as a function of the margin m = y·f (labels ±1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MarginLoss {
    /// ℓ(m) = ln(1 + e^{−m}).
    Logistic,
    /// ℓ(m) = ½(m − 1)² = ½(f − y)².
    Squared,
}

impl MarginLoss {
    /// ℓ(m), nats.
    pub fn value(self, m: f64) -> f64 {
        match self {
            MarginLoss::Logistic => (-m).max(0.0) + (-m.abs()).exp().ln_1p(),
            MarginLoss::Squared => 0.5 * (m - 1.0).powi(2),
        }
    }

    /// |ℓ'(m)|: sigmoid(−m) (logistic), |m − 1| (squared).
    pub fn slope(self, m: f64) -> f64 {
        match self {
            MarginLoss::Logistic => sigmoid(-m),
            MarginLoss::Squared => (m - 1.0).abs(),
        }
    }

    /// ℓ''(m): sigmoid(m)·sigmoid(−m) (logistic), 1 (squared).
    pub fn curvature(self, m: f64) -> f64 {
        match self {
            MarginLoss::Logistic => sigmoid(m) * sigmoid(-m),
            MarginLoss::Squared => 1.0,
        }
    }

    /// The margin of a correctly fitted sample whose loss is `loss` ≥ 0: −ln(e^ℓ − 1)
    /// (logistic; +∞ at ℓ = 0), 1 − √(2ℓ) (squared, on the side gradient descent approaches
    /// the target from; the residual is then |r₀| = √(2ℓ)).
    pub fn margin_at(self, loss: f64) -> f64 {
        match self {
            MarginLoss::Logistic => -loss.exp_m1().ln(),
            MarginLoss::Squared => 1.0 - (2.0 * loss).sqrt(),
        }
    }
}

/// The logistic function 1/(1 + e^{−x}), without overflow.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// κ = ln(1 + η·|λ_min(H_α)|) when λ_min(H_α) < 0, else 0: the growth (e-folds per step) of
/// the most unstable direction of the mean linearised step I − ηH_α. η in 1/(curvature
/// units), λ_min in curvature units.
pub fn escape_rate(eta: f64, lambda_min: f64) -> f64 {
    if lambda_min < 0.0 {
        (eta * -lambda_min).ln_1p()
    } else {
        0.0
    }
}

/// What the escape rule needs from the forget set at w* (independent of α and η).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ForgetAtOptimum {
    /// The loss.
    pub loss: MarginLoss,
    /// Mean loss over the forget samples at w* (nats, ≥ 0).
    pub forget_loss: f64,
    /// ‖g_f‖: root mean square over the forget samples of ‖∇_w f(x_j)‖ at w* (≥ 0).
    pub forget_grad_norm: f64,
    /// Number of forget samples n_f (≥ 1).
    pub n_forget: usize,
    /// The escape radius R (> 0, parameter units): a run has escaped once
    /// ‖w − w*‖ > R (escape_factor·‖w*‖).
    pub radius: f64,
}

/// The loss-shape factor and what it was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LossShape {
    /// The start of the path: m₀ (logistic) or |r₀| (squared).
    pub start: f64,
    /// Δ: how far the margin falls (logistic, R·‖g_f‖/√n_f) or |r| grows (squared, R·‖g_f‖).
    pub shift: f64,
    /// L ≥ 0: e-folds of the unstable direction the escape needs (+∞ when |r₀| = 0).
    pub factor: f64,
}

impl ForgetAtOptimum {
    /// Checks every field; errors name the field and its range.
    pub fn validate(&self) -> Result<()> {
        let check = |field: &'static str, v: f64, ok: bool, allowed: &str| {
            if ok && v.is_finite() {
                Ok(())
            } else {
                Err(Error::out_of_range(field, v, allowed))
            }
        };
        check(
            "forget_loss",
            self.forget_loss,
            self.forget_loss >= 0.0,
            "[0, ∞), finite",
        )?;
        check(
            "forget_grad_norm",
            self.forget_grad_norm,
            self.forget_grad_norm >= 0.0,
            "[0, ∞), finite",
        )?;
        check("radius", self.radius, self.radius > 0.0, "(0, ∞), finite")?;
        if self.n_forget == 0 {
            return Err(Error::out_of_range("n_forget", 0, "1 or more"));
        }
        Ok(())
    }

    /// The loss-shape factor L (see the module docs).
    pub fn shape(&self) -> Result<LossShape> {
        self.validate()?;
        let travel = self.radius * self.forget_grad_norm;
        let m0 = self.loss.margin_at(self.forget_loss);
        Ok(match self.loss {
            MarginLoss::Logistic => {
                let shift = travel / (self.n_forget as f64).sqrt();
                // ℓ''(m₀)·∫_{m₀−Δ}^{m₀} (1 + e^m) dm with ℓ''(m₀)·e^{m₀} = s(m₀)².
                let s = sigmoid(m0);
                LossShape {
                    start: m0,
                    shift,
                    factor: self.loss.curvature(m0) * shift + s * s * -(-shift).exp_m1(),
                }
            }
            MarginLoss::Squared => {
                let r0 = (1.0 - m0).abs();
                LossShape {
                    start: r0,
                    shift: travel,
                    factor: (travel / r0).ln_1p(),
                }
            }
        })
    }
}

/// The predicted escape time of one setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EscapeTime {
    /// κ, e-folds per step (0: no unstable direction).
    pub kappa: f64,
    /// L, the loss-shape factor.
    pub shape_factor: f64,
    /// T̂_esc = L/κ in steps (+∞ when κ = 0).
    pub steps: f64,
}

impl EscapeTime {
    /// T̂_esc = L/κ for learning rate η, λ_min(H_α) and the loss shape at w*.
    pub fn new(eta: f64, lambda_min: f64, shape: &LossShape) -> EscapeTime {
        let kappa = escape_rate(eta, lambda_min);
        EscapeTime {
            kappa,
            shape_factor: shape.factor,
            steps: if kappa > 0.0 {
                shape.factor / kappa
            } else {
                f64::INFINITY
            },
        }
    }

    /// The prediction for a budget of K steps: escape ⇔ T̂_esc ≤ K.
    pub fn within(&self, budget: usize) -> bool {
        self.steps <= budget as f64
    }
}

/// α_drift: the largest α at which the mean unlearning step still lowers the forget loss to
/// first order, from ⟨∇L_F, ∇L_R⟩ (`dot`) and ‖∇L_F‖² (`forget_sq`) at w*. The mean step
/// Δw = −η[(1−α)∇L_R − α∇L_F] changes L_F by −η[(1−α)⟨∇L_F, ∇L_R⟩ − α‖∇L_F‖²], negative
/// for α < ⟨∇L_F, ∇L_R⟩/(⟨∇L_F, ∇L_R⟩ + ‖∇L_F‖²) when the gradients are aligned
/// (⟨∇L_F, ∇L_R⟩ > 0); otherwise 0 (no α > 0 lowers it). In [0, 1).
pub fn alpha_drift(dot: f64, forget_sq: f64) -> f64 {
    if dot > 0.0 {
        dot / (dot + forget_sq)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::DMatrix;

    use super::*;
    use crate::curvature::Curvature;
    use crate::family::Family;
    use crate::first_moment::first_moment;
    use crate::problem::{Problem, Settings};

    /// ∫_a^b f by composite Simpson with `n` (even) intervals.
    fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
        let h = (b - a) / n as f64;
        let inner: f64 = (1..n)
            .map(|i| f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
            .sum();
        (f(a) + inner + f(b)) * h / 3.0
    }

    /// A hand-made rank-one case: retain gradients along e_0, e_1, forget gradients along
    /// e_2, e_3 (mutually orthogonal, memorisation), H_i = c_i g_i g_iᵀ with known c_i and
    /// ‖g_i‖. Then H_α is diagonal with forget entries −α·c_j‖g_j‖²/n_f, so
    /// κ = ln(1 + η·α·max_j c_j‖g_j‖²/n_f). L comes from numerical integration of
    /// ℓ''(m₀)∫dm/|ℓ'(m)|, independent of the closed forms. T̂_esc = L/κ.
    #[test]
    fn escape_time_of_a_hand_computed_rank_one_case() {
        let (eta, alpha, radius) = (0.5, 0.3, 4.0);
        let g = DMatrix::from_row_slice(
            4,
            5,
            &[
                3.0, 0.0, 0.0, 0.0, 0.0, //
                0.0, 2.0, 0.0, 0.0, 0.0, //
                0.0, 0.0, 5.0, 0.0, 0.0, //
                0.0, 0.0, 0.0, 4.0, 0.0, //
            ],
        );
        for loss in [MarginLoss::Logistic, MarginLoss::Squared] {
            // The forget samples at the margin of mean forget loss 0.008.
            let forget_loss = 0.008;
            let m0 = loss.margin_at(forget_loss);
            let c_forget = loss.curvature(m0);
            let c = [0.02, 0.03, c_forget, c_forget];
            let family = |rows: std::ops::Range<usize>| {
                Family::rank_one(&g.rows(rows.start, rows.len()).into_owned(), &c[rows]).unwrap()
            };
            let curv = Curvature::new(&family(0..2), Some(&family(2..4))).unwrap();
            let problem = Problem::new(&curv, Settings::new(eta, alpha, 1)).unwrap();
            let lambda_min = first_moment(&problem).lambda_min;
            let n_f = 2.0;
            let kappa = (1.0 + eta * alpha * c_forget * 25.0 / n_f).ln();
            // ‖g_f‖ = RMS(5, 4); Δ = R‖g_f‖/√n_f (logistic), R‖g_f‖ (squared).
            let g_f = ((25.0 + 16.0) / 2.0f64).sqrt();
            let shift = match loss {
                MarginLoss::Logistic => radius * g_f / n_f.sqrt(),
                MarginLoss::Squared => radius * g_f,
            };
            let integral = match loss {
                MarginLoss::Logistic => {
                    simpson(|m| 1.0 / (1.0 / (1.0 + m.exp())), m0 - shift, m0, 20_000)
                }
                MarginLoss::Squared => {
                    let r0 = 1.0 - m0;
                    simpson(|r| 1.0 / r, r0, r0 + shift, 20_000)
                }
            };
            let shape_reference = c_forget * integral;
            let steps_reference = shape_reference / kappa;
            let shape = ForgetAtOptimum {
                loss,
                forget_loss,
                forget_grad_norm: g_f,
                n_forget: 2,
                radius,
            }
            .shape()
            .unwrap();
            let time = EscapeTime::new(eta, lambda_min, &shape);
            for (name, rust, reference) in [
                ("kappa", time.kappa, kappa),
                ("L", time.shape_factor, shape_reference),
                ("T_esc", time.steps, steps_reference),
                ("shift", shape.shift, shift),
            ] {
                assert!(
                    (rust - reference).abs() <= 1e-9 * reference.abs(),
                    "{loss:?} {name}: rust={rust}, reference={reference}"
                );
            }
            assert!(
                time.within(steps_reference.ceil() as usize),
                "{loss:?}: {time:?}"
            );
            assert!(!time.within(steps_reference.floor() as usize - 1));
        }
    }

    /// Logistic: L ≈ 1 + ℓ₀Δ once the margin is large (ℓ₀ ≈ e^{−m₀}), to O(ℓ₀ + e^{−Δ}).
    #[test]
    fn logistic_shape_factor_tends_to_one_plus_loss_times_shift() {
        let at = ForgetAtOptimum {
            loss: MarginLoss::Logistic,
            forget_loss: 1e-4,
            forget_grad_norm: 6.0,
            n_forget: 10,
            radius: 20.0,
        };
        let shape = at.shape().unwrap();
        let approx = 1.0 + 1e-4 * shape.shift;
        assert!(
            (shape.factor - approx).abs() < 3e-4,
            "rust={}, reference≈{approx}",
            shape.factor
        );
    }

    #[test]
    fn no_unstable_direction_means_no_escape() {
        let shape = LossShape {
            start: 5.0,
            shift: 3.0,
            factor: 1.2,
        };
        for lambda_min in [0.0, 0.7] {
            let t = EscapeTime::new(0.5, lambda_min, &shape);
            assert_eq!((t.kappa, t.steps), (0.0, f64::INFINITY));
            assert!(!t.within(usize::MAX));
        }
    }

    /// The first-order change of L_F under the mean step changes sign at α_drift.
    #[test]
    fn alpha_drift_is_where_the_mean_step_stops_lowering_the_forget_loss() {
        let (g_r, g_f) = ([0.9, 0.2, -0.1], [0.5, 0.4, 0.3]);
        let dot: f64 = g_r.iter().zip(&g_f).map(|(a, b)| a * b).sum();
        let sq: f64 = g_f.iter().map(|b| b * b).sum();
        let drift = alpha_drift(dot, sq);
        let change = |alpha: f64| -> f64 {
            // ⟨∇L_F, Δw⟩ with Δw = −[(1−α)g_R − αg_F] (η = 1).
            g_f.iter()
                .zip(&g_r)
                .map(|(f, r)| -f * ((1.0 - alpha) * r - alpha * f))
                .sum()
        };
        assert!(
            change(drift - 1e-9) < 0.0 && change(drift + 1e-9) > 0.0,
            "{drift}"
        );
        assert!(change(drift).abs() < 1e-15);
        assert_eq!(alpha_drift(-0.3, sq), 0.0);
        assert_eq!(alpha_drift(0.0, 0.0), 0.0);
    }

    #[test]
    fn margins_invert_the_loss() {
        for loss in [MarginLoss::Logistic, MarginLoss::Squared] {
            for l in [1e-6, 0.003, 0.4] {
                let back = loss.value(loss.margin_at(l));
                assert!(
                    (back - l).abs() <= 1e-12 * l,
                    "{loss:?}: rust={back}, reference={l}"
                );
            }
        }
    }

    #[test]
    fn bad_inputs_name_their_field() {
        let ok = ForgetAtOptimum {
            loss: MarginLoss::Squared,
            forget_loss: 0.01,
            forget_grad_norm: 1.0,
            n_forget: 3,
            radius: 1.0,
        };
        for (bad, field) in [
            (
                ForgetAtOptimum {
                    forget_loss: -1.0,
                    ..ok
                },
                "forget_loss",
            ),
            (
                ForgetAtOptimum {
                    forget_grad_norm: f64::NAN,
                    ..ok
                },
                "forget_grad_norm",
            ),
            (ForgetAtOptimum { radius: 0.0, ..ok }, "radius"),
            (ForgetAtOptimum { n_forget: 0, ..ok }, "n_forget"),
        ] {
            match bad.shape() {
                Err(Error::OutOfRange { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
