"""PaDiM-style statistics of good parts: one Gaussian per feature-map location, and its numpy reference.

Fitting (Defard et al., "PaDiM", 2020): at every location l of the embedding map, the good parts'
feature vectors x (D channels) get a mean mu_l and a covariance S_l. A part is scored by the Mahalanobis
distance d_l = sqrt((x - mu_l)^T S_l^-1 (x - mu_l)) at every location.

Decisions:
- **Ledoit-Wolf shrinkage, not a fixed ridge.** With a few hundred good images and D = 100 channels the
  sample covariance is ill-conditioned; the original adds 0.01 I, which depends on the feature scale.
  Ledoit-Wolf picks the shrinkage towards (trace / D) I per location from the data itself (the closed form
  of sklearn.covariance.ledoit_wolf, vectorised over locations; a test checks it against sklearn).
- **Stored as an inverse Cholesky factor.** S = C C^T, so d^2 = ||C^-1 (x - mu)||^2: the graph does one
  batched MatMul per location and a sum of squares, which cannot go negative through rounding (an explicit
  inverse (x-mu)^T P (x-mu) can). We store W = (C^-1)^T so that row vectors multiply on the left.
- **Two Gaussians: one for "whether", one for "where".** The image score is the Mahalanobis distance of
  the image's *global-average* embedding to a Gaussian of the good parts' global averages (Rippel et al.,
  "Gaussian AD", 2020); the heatmap is the per-location PaDiM map (3x3 binomial blur, reflect padding).
  Measured on the casting photos (1,000 good training images, 300 + 300 held out, 160 px, D = 100):
  AUROC 0.997 for the global score against 0.956 for the max of the per-location map (0.961 with all 216
  channels, 0.966 with flips and quarter turns, 0.955 at 224 px, 0.960 with shifted copies): the
  impellers sit at any rotation, which a per-location Gaussian reads as anomalous, while the global
  average is rotation-invariant; a small defect still moves it in the whitened space. On the simulator
  crops (aligned parts, small defects) it is the other way round: 0.82 global against 0.94 for the map's
  maximum. So the score's source is a training choice (`score_source`), global by default.
- **Design subspace (optional).** Where every part is a new design (the simulator's mixed crops: teeth,
  holes, pins, ears and colour drawn per crop) a per-location Gaussian has to cover all designs and grows
  too wide to see a sink mark. The good parts' main modes of variation of the *whole* embedding map (the
  top k principal components, `fit_design_subspace`) describe the design; a small local defect barely
  projects on them. Subtracting each image's projection (`remove_design`) leaves the residual, and the
  Gaussians are fitted on residuals. Measured on the simulator's mixed crops (2,393 good crops to train,
  1,000 fresh ones, grey, 112 channels): per-location AUROC 0.969 without, 0.977 / 0.984 / 0.987 / 0.990
  with k = 16 / 64 / 128 / 256 (0.991 at 64 channels), where k-means design prototypes reached 0.980
  with 250 prototypes and 12,000 crops (models/default_good_only/build.py). The components are stored
  as int8 with one scale per component (a quarter of the bytes; AUROC 0.9920 against 0.9919 in float32
  at k = 320), so the numpy reference uses the same rounded values.
- **Groups.** Parts that look different (the simulator's caps, gears and housings) would blur one
  Gaussian into a wide, weak one. `group` assigns each training image to one of G groups (k-means on its
  global average); each group gets its own Gaussians, and a part is judged by the group whose global
  Gaussian it fits best (smallest image distance); its heatmap comes from that group. G = 1 is plain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

BLUR_KERNEL = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]).astype(np.float32) / 16.0
_CHUNK_LOCATIONS = 50  # locations per covariance batch: bounds the [chunk, n, D] float64 temporary


@dataclass
class GaussianMaps:
    """Per group g and location l: mean [G, L, D] and W = inverse Cholesky factor transposed [G, L, D, D]."""

    mean: np.ndarray
    whiten: np.ndarray
    shrinkage: np.ndarray  # [G, L] Ledoit-Wolf shrinkage used, for the card

    @property
    def nbytes(self) -> int:
        return self.mean.nbytes + self.whiten.nbytes


@dataclass
class DesignSubspace:
    """Mean [D * L] and top-k principal components of good parts' whole embedding maps.

    The components are int8 [k, D * L] times one scale per component [k]; `components` is that product
    in float32, which is what the graph computes with (DequantizeLinear).
    """

    mean: np.ndarray
    components_int8: np.ndarray
    scale: np.ndarray

    @property
    def components(self) -> np.ndarray:
        return self.components_int8.astype(np.float32) * self.scale[:, None]

    @property
    def nbytes(self) -> int:
        return self.mean.nbytes + self.components_int8.nbytes + self.scale.nbytes


def fit_design_subspace(embeddings: np.ndarray, k: int, seed: int) -> DesignSubspace:
    """embeddings [n, D, h, w] of good parts -> their top-k principal components (randomised SVD)."""
    flat = embeddings.reshape(len(embeddings), -1)
    pca = PCA(k, svd_solver="randomized", random_state=seed).fit(flat)
    scale = (np.abs(pca.components_).max(axis=1) / 127.0).astype(np.float32)
    components_int8 = np.rint(pca.components_ / scale[:, None]).clip(-127, 127).astype(np.int8)
    return DesignSubspace(pca.mean_.astype(np.float32), components_int8, scale)


def remove_design(embeddings: np.ndarray, design: DesignSubspace) -> np.ndarray:
    """embeddings [n, D, h, w] -> the residual after removing their projection on the design subspace."""
    centred = embeddings.reshape(len(embeddings), -1) - design.mean
    components = design.components
    residual = centred - (centred @ components.T) @ components
    return residual.reshape(embeddings.shape)


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x [L, n, D] -> mean [L, D], shrunk covariance [L, D, D], shrinkage [L] (float64)."""
    x = x.astype(np.float64)
    n, d = x.shape[1], x.shape[2]
    mean = x.mean(axis=1)
    xc = x - mean[:, None, :]
    cov = np.einsum("lnd,lne->lde", xc, xc) / n
    mu = np.trace(cov, axis1=1, axis2=2) / d
    eye = np.eye(d)
    delta = ((cov - mu[:, None, None] * eye) ** 2).sum(axis=(1, 2)) / d
    fourth = ((xc ** 2).sum(axis=2) ** 2).sum(axis=1)  # sum_k ||x_k||^4
    beta = (fourth / n - (cov ** 2).sum(axis=(1, 2))) / (n * d)
    shrinkage = np.where(delta > 0, np.minimum(beta, delta) / np.where(delta > 0, delta, 1.0), 0.0)
    shrunk = (1.0 - shrinkage)[:, None, None] * cov + (shrinkage * mu)[:, None, None] * eye
    return mean, shrunk, shrinkage


def fit_gaussians(embeddings: np.ndarray, group: np.ndarray, n_groups: int) -> GaussianMaps:
    """embeddings [n, D, h, w] of good parts, group [n] in 0..G-1 -> GaussianMaps over L = h * w."""
    d, h, w = embeddings.shape[1:]
    means = np.zeros((n_groups, h * w, d), np.float32)
    whiten = np.zeros((n_groups, h * w, d, d), np.float32)
    shrinkage = np.zeros((n_groups, h * w), np.float32)
    for g in range(n_groups):
        members = embeddings[group == g].reshape(-1, d, h * w)
        if len(members) < 2:
            raise ValueError(f"group {g} has {len(members)} image(s); a Gaussian needs at least 2")
        for start in range(0, h * w, _CHUNK_LOCATIONS):
            stop = min(start + _CHUNK_LOCATIONS, h * w)
            x = members[:, :, start:stop].transpose(2, 0, 1)  # [chunk, n_g, D]
            mean, cov, shrink = ledoit_wolf(x)
            inv_chol = np.linalg.inv(np.linalg.cholesky(cov))  # C^-1, lower triangular
            means[g, start:stop] = mean
            whiten[g, start:stop] = inv_chol.transpose(0, 2, 1)
            shrinkage[g, start:stop] = shrink
    return GaussianMaps(means, whiten, shrinkage)


def blur(maps: np.ndarray) -> np.ndarray:
    """[..., h, w] -> same shape: 3x3 binomial blur with reflect padding (as the ONNX graph does)."""
    padded = np.pad(maps, [(0, 0)] * (maps.ndim - 2) + [(1, 1), (1, 1)], mode="reflect")
    h, w = maps.shape[-2:]
    out = np.zeros_like(maps, dtype=np.float32)
    for dy in range(3):
        for dx in range(3):
            out += BLUR_KERNEL[dy, dx] * padded[..., dy:dy + h, dx:dx + w]
    return out


def mahalanobis(x: np.ndarray, gaussians: GaussianMaps) -> np.ndarray:
    """x [L, n, D] -> distances [G, L, n] to each group's Gaussian at each location (numpy reference)."""
    out = np.zeros((len(gaussians.mean), x.shape[0], x.shape[1]), np.float32)
    for g in range(len(gaussians.mean)):
        centred = x - gaussians.mean[g][:, None, :]
        out[g] = np.sqrt((np.matmul(centred, gaussians.whiten[g]) ** 2).sum(axis=2))
    return out


def distance_maps(embeddings: np.ndarray, gaussians: GaussianMaps) -> np.ndarray:
    """embeddings [n, D, h, w] -> blurred Mahalanobis distance maps [G, n, h, w] (numpy reference)."""
    n, d, h, w = embeddings.shape
    x = embeddings.reshape(n, d, h * w).transpose(2, 0, 1)  # [L, n, D]
    return blur(mahalanobis(x, gaussians).transpose(0, 2, 1).reshape(-1, n, h, w))


def pooled(embeddings: np.ndarray) -> np.ndarray:
    """[n, D, h, w] -> [n, D, 1, 1]: the global average, a one-location embedding for the image Gaussian."""
    return embeddings.mean(axis=(2, 3), keepdims=True)


def score_images(embeddings: np.ndarray, image_gaussians: GaussianMaps,
                 map_gaussians: GaussianMaps) -> tuple[np.ndarray, np.ndarray]:
    """embeddings [n, D, h, w] -> (image distance [n], distance map [n, h, w] of the best group)."""
    n, d = embeddings.shape[:2]
    image = mahalanobis(pooled(embeddings).reshape(n, d, 1).transpose(2, 0, 1), image_gaussians)[:, 0]
    best = image.argmin(axis=0)  # [n]: the group each image fits best
    return image.min(axis=0), distance_maps(embeddings, map_gaussians)[best, np.arange(n)]
