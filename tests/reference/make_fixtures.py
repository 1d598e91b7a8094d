"""Independent NumPy reference for `frontier coherence` and `frontier stability`.

Writes small safetensors inputs with the documented tensor names and the numbers NumPy computes
for them straight from the definitions in docs/science.md (dense p×p matrices, no shortcuts), into tests/reference/.
Run: python3 tests/reference/make_fixtures.py   (needs numpy and safetensors)
"""
import json
import os

import numpy as np
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)


def coherences(H, n_r, alpha):
    """σ, σ_R, σ_F, σ_RF, σ_U, σ_U_signed from dense per-sample Hessians H [n, p, p]."""
    n = len(H)
    K = np.einsum("iab,jba->ij", H, H)  # tr(H_i H_j)
    S = np.sqrt(np.maximum(K, 0))
    lam = np.array([np.linalg.eigvalsh(h)[-1] for h in H])
    top = lambda M: np.linalg.eigvalsh(M)[-1]
    R, F = slice(0, n_r), slice(n_r, n)
    sigma = top(S) / lam.max()
    sigma_r = top(S[R, R]) / lam[R].max()
    sigma_f = top(S[F, F]) / lam[F].max()
    sigma_rf = np.linalg.norm(S[R, F], 2) / np.sqrt(lam[R].max() * lam[F].max())
    a = 1 - alpha
    out = []
    for b in (alpha, -alpha):
        pairs = [(r, f) for r in range(n_r) for f in range(n_r, n)]
        SU = np.zeros((len(pairs), len(pairs)))
        for u, (r, f) in enumerate(pairs):
            for v, (r2, f2) in enumerate(pairs):
                sq = a * a * K[r, r2] + a * b * (K[r, f2] + K[f, r2]) + b * b * K[f, f2]
                SU[u, v] = np.sqrt(max(sq, 0.0))
        # Each version is normalised by its own pair matrices (1−α)H_r + b·H_f: λ_max of the
        # PSD sum for b = +α, the spectral radius of the signed difference for b = −α.
        norm = max(np.abs(np.linalg.eigvalsh(a * H[r] + b * H[f])).max() for r, f in pairs)
        out.append(top(SU) / norm)
    return sigma, sigma_r, sigma_f, sigma_rf, out[0], out[1]


def cnn_fixture():
    n, P, d, m, alpha = 12, 2, 8, 3, 0.4
    x = rng.normal(size=(n, P, d))
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    forget = np.zeros(n)
    forget[[2, 5, 9]] = 1.0
    w_pos, w_neg = rng.normal(size=(m, d)), rng.normal(size=(m, d))
    save_file({"x": x, "y": y, "forget": forget}, os.path.join(HERE, "cnn_data.safetensors"))
    save_file({"w_pos": w_pos, "w_neg": w_neg}, os.path.join(HERE, "cnn_weights.safetensors"))
    expected = {}
    for loss in ("logistic", "squared"):
        f = np.zeros(n)
        G = np.zeros((n, 2 * m * d))
        for i in range(n):
            gp = np.zeros((m, d))
            gn = np.zeros((m, d))
            for r in range(m):
                for p in range(P):
                    ap, an = w_pos[r] @ x[i, p], w_neg[r] @ x[i, p]
                    f[i] += (max(ap, 0) - max(an, 0)) / m
                    if ap > 0:
                        gp[r] += x[i, p] / m
                    if an > 0:
                        gn[r] -= x[i, p] / m
            G[i] = np.concatenate([gp.ravel(), gn.ravel()])
        if loss == "logistic":
            s = 1 / (1 + np.exp(-y * f))
            c, d1 = s * (1 - s), -y * (1 - s)
        else:
            c, d1 = np.ones(n), f - y
        order = np.concatenate([np.where(forget == 0)[0], np.where(forget == 1)[0]])
        Gs, cs = G[order], c[order]
        n_r = int((forget == 0).sum())
        H = np.array([ci * np.outer(g, g) for ci, g in zip(cs, Gs)])
        Hfull = H.mean(0)
        Ha = (1 - alpha) * H[:n_r].mean(0) - alpha * H[n_r:].mean(0)
        ev, eva = np.linalg.eigvalsh(Hfull), np.linalg.eigvalsh(Ha)
        sig = coherences(H, n_r, alpha)
        expected[loss] = {
            "n": n, "n_retain": n_r, "n_forget": n - n_r, "alpha": alpha,
            "sigma": sig[0], "sigma_r": sig[1], "sigma_f": sig[2], "sigma_rf": sig[3],
            "sigma_u": sig[4], "sigma_u_signed": sig[5],
            "lambda_max_h": ev[-1], "trace_h": np.trace(Hfull),
            "lambda_min_h_alpha": eva[0], "lambda_max_h_alpha": eva[-1],
            "residual_grad_norm": np.linalg.norm((d1[:, None] * G).mean(0)),
        }
    with open(os.path.join(HERE, "cnn_expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1)


def rho_dense(Hr, Hf, eta, alpha, br, bf):
    """ρ(T) of the mean-square map, as a p²×p² matrix (without replacement)."""
    p = Hr.shape[1]
    c = lambda n, b: (n - b) / (b * (n - 1)) if n > 1 else 0.0
    HR, HF = Hr.mean(0), Hf.mean(0)
    J = np.eye(p) - eta * ((1 - alpha) * HR - alpha * HF)
    T = np.kron(J, J)
    for Hs, Hm, w, cc in ((Hr, HR, (1 - alpha) ** 2, c(len(Hr), br)), (Hf, HF, alpha**2, c(len(Hf), bf))):
        for h in Hs:
            D = h - Hm
            T += eta**2 * w * cc * np.kron(D, D) / len(Hs)
    return np.abs(np.linalg.eigvals(T)).max()


def stability_fixture():
    p, n_r, n_f, eta, alpha, b = 5, 7, 4, 0.3, 0.35, 3
    g = rng.normal(size=(n_r, p))
    c = rng.random(n_r) + 0.5
    Hr = np.array([ci * np.outer(gi, gi) for ci, gi in zip(c, g)])
    A = rng.normal(size=(n_f, p, 2))
    Hf = np.einsum("nab,ncb->nac", A, A) * 0.3  # dense rank-two PSD
    save_file({"retain_g": g, "retain_c": c, "forget_h": Hf}, os.path.join(HERE, "hessians.safetensors"))
    Ha = (1 - alpha) * Hr.mean(0) - alpha * Hf.mean(0)
    ev = np.linalg.eigvalsh(Ha)
    sig = coherences(np.concatenate([Hr, Hf]), n_r, alpha)
    expected = {
        "eta": eta, "alpha": alpha, "batch": b,
        "rho_mean_square": rho_dense(Hr, Hf, eta, alpha, b, b),
        "lambda_min_h_alpha": ev[0], "lambda_max_h_alpha": ev[-1],
        "sigma_r": sig[1], "sigma_f": sig[2], "sigma_rf": sig[3], "sigma_u": sig[4],
    }
    with open(os.path.join(HERE, "stability_expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1)


cnn_fixture()
stability_fixture()
