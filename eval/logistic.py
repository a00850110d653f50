"""Weighted logistic regression with sign bounds on its weights, for eval.fit_answerer."""

from __future__ import annotations

import numpy as np

# Sign constraints: more of the question's evidence never lowers a score, missing evidence never raises it.
# Without them, correlated features (coverage, bigrams, max coverage) trade weights and flip signs.
_SIGNS = {"novelty": 0, "bias": 0, "missing_rare": -1, "type_missing": -1}


def fit_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray, names: tuple[str, ...], *, l2: float = 1.0) -> np.ndarray:
    """Weighted logistic regression with per-feature sign bounds (L-BFGS-B); `w` sums to the number of rows."""
    from scipy.optimize import minimize

    yy = y.astype(np.float64)

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = X @ beta
        p = 1 / (1 + np.exp(-z))
        nll = np.sum(w * (np.logaddexp(0, z) - yy * z))
        grad = X.T @ (w * (p - yy))
        reg = 0.5 * l2 * np.sum(beta[:-1] ** 2)
        return float(nll + reg), grad + l2 * np.append(beta[:-1], 0.0)

    bounds = []
    for name in names:
        sign = _SIGNS.get(name, 1)
        bounds.append((0.0, None) if sign > 0 else (None, 0.0) if sign < 0 else (None, None))
    result = minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds)
    return np.asarray(result.x)
