"""Radiomic features (pyradiomics) as an image "backbone": the feature vectors of the Fréchet Radiomics
Distance (metrics/frd.py), cached per image like any network's features.

The extraction is CheXGenBench's (`metrics/frd.py` → `radiomics_utils.compute_slice_radiomics`, after
RichardObi/frd-score's FRD v1): the file read as 8-bit grayscale (PIL `convert("L")`), a mask of the
whole image but its first pixel (the workaround for pyradiomics issue 765), 1 mm pixel spacing, the
slice joined into a one-slice volume, and pyradiomics run with the profile's `radiomics` settings
(CheXGenBench's: original, LoG σ 2–5 and wavelet images; first-order, 22 GLCM, GLRLM, GLSZM and NGTDM
features; intensities normalised to scale 100, resampled to 2 mm by B-spline, bin width 5, voxel
shift 300, 2-D). No weights: the "weights" this extractor is keyed by are the settings and the
pyradiomics version, so a change of either gives new cache keys.

Layers: ``radiomics`` — the radiomic features only; ``chexgenbench`` — the numeric diagnostics
pyradiomics reports before them (image and mask mean/min/max/voxel counts, original and resampled),
which CheXGenBench's CSV round trip keeps as features because pandas reads them back as numbers, and
the features. Each is in pyradiomics' output order, the columns of CheXGenBench's CSV.

pyradiomics' own PyPI release (3.1.0) does not install on Python ≥ 3.10 (its sdist's metadata says
3.0.1a1 and its setup needs numpy before install); `pyradiomics-bhklab` is the same code (the
upstream master's packaging fix) published as an installable sdist: `pip install 'cxrgen-bench[radiomics]'`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import Any, Mapping

import numpy as np

from ...data.images import LoadedImage
from ...errors import InputError
from ..base import Model
from .base import Backbone

# CheXGenBench's 2-D extraction settings (metrics/frd_v1/configs/2D_extraction.yaml), as pyradiomics
# parameters: a profile may replace them under `radiomics:` in the backbone's block.
CHEXGENBENCH_SETTINGS: dict[str, Any] = {
    "imageType": {"Original": {}, "LoG": {"sigma": [2.0, 3.0, 4.0, 5.0]}, "Wavelet": {}},
    "featureClass": {
        "firstorder": [],
        "glcm": ["Autocorrelation", "JointAverage", "ClusterProminence", "ClusterShade", "ClusterTendency",
                 "Contrast", "Correlation", "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance",
                 "JointEnergy", "JointEntropy", "Imc1", "Imc2", "Idm", "Idmn", "Id", "Idn", "InverseVariance",
                 "MaximumProbability", "SumEntropy", "SumSquares"],
        "glrlm": [], "glszm": [], "ngtdm": []},
    "setting": {"normalize": True, "normalizeScale": 100, "interpolator": "sitkBSpline",
                "resampledPixelSpacing": [2, 2, 0], "padDistance": 10, "preCrop": True, "force2D": True,
                "force2Ddimension": 0, "binWidth": 5, "voxelArrayShift": 300, "label": 1},
}
# What those settings give (pyradiomics 3.1): 77 features (18 first-order, 22 GLCM, 16 GLRLM, 16 GLSZM,
# 5 NGTDM) on 5 images — the original and 4 wavelet bands. The LoG images are never made: pyradiomics
# refuses a LoG filter on a volume thinner than 4 voxels and a radiograph is one slice thick ("Image too
# small to apply LoG filter"), so CheXGenBench's σ 2–5 settings change nothing. Checked on every image.
DIAGNOSTIC_PREFIX = "diagnostics_"
UNMEASURED = 0  # a layer's width before the first image is seen (settings other than CheXGenBench's)
_BUILDING = threading.Lock()
INSTALL = "pip install 'cxrgen-bench[radiomics]' (installs pyradiomics-bhklab, the installable pyradiomics)"


def _numeric(value: Any) -> bool:
    """What pandas reads back as a number from pyradiomics' output written to CSV: numbers and 0-d arrays,
    not strings, tuples (spacings, sizes) or dicts (settings)."""
    if isinstance(value, (bool, str, tuple, list, dict)):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim == 0 and value.dtype.kind in "iuf"
    return isinstance(value, (int, float, np.integer, np.floating))


class PyRadiomics(Backbone):
    name = "pyradiomics"
    version = "1"
    needs_weights = False
    layers = {"radiomics": 385, "chexgenbench": 398}
    preprocessings = ("pil-l",)

    def __init__(self, profile_cfg: Mapping[str, Any], weights: str | None = None, allow_pickle: bool = False,
                 device: str = "cpu", name: str | None = None, **_: Any):
        # Not Backbone.__init__: there is no weights file; the settings and the library version stand for one.
        Model.__init__(self, device=device, allow_pickle=allow_pickle)
        self.name = name or self.name
        self.cfg = dict(profile_cfg)
        self.settings = dict(self.cfg.get("radiomics") or CHEXGENBENCH_SETTINGS)
        self.library = _library_version()
        digest = hashlib.sha256(json.dumps({"settings": self.settings, "pyradiomics": self.library},
                                           sort_keys=True).encode()).hexdigest()
        self.provenance = {"source": "pyradiomics (no weights)", "sha256": digest, "library": self.library,
                           "settings_sha256": hashlib.sha256(json.dumps(self.settings, sort_keys=True).encode())
                           .hexdigest()}
        if self.settings != CHEXGENBENCH_SETTINGS:
            self.layers = {layer: UNMEASURED for layer in self.layers}
        self._local = threading.local()

    def load(self) -> Any:
        return self  # nothing to load: each thread builds its own extractor (see _extractor)

    def build(self, state_dict: dict, where: str) -> Any:
        raise NotImplementedError("pyradiomics has no weights")

    def input_image(self, loaded: LoadedImage, preprocessing: str) -> np.ndarray:
        return loaded.under(self.alpha).pil_l()  # PIL convert("L") of a colour file, as CheXGenBench reads it

    def _extractor(self) -> Any:
        extractor = getattr(self._local, "extractor", None)
        if extractor is None:
            from radiomics import featureextractor

            logging.getLogger("radiomics").setLevel(logging.ERROR)  # one line per filtered image otherwise
            with _BUILDING:  # pyradiomics validates settings with a YAML parser that threads cannot share
                extractor = featureextractor.RadiomicsFeatureExtractor(json.loads(json.dumps(self.settings)))
            self._local.extractor = extractor
        return extractor

    def execute(self, image: np.ndarray) -> dict[str, Any]:
        """pyradiomics' output for one canonical image, read as CheXGenBench reads it (8-bit, whole-image mask)."""
        import SimpleITK as sitk

        pixels = np.clip(np.rint(np.asarray(image, np.float64) * 255.0), 0, 255).astype(np.uint8)
        mask = np.ones_like(pixels)
        mask[0, 0] = 0  # pyradiomics issue 765: a mask covering every voxel fails; CheXGenBench's workaround
        volumes = []
        for array in (pixels, mask):
            item = sitk.GetImageFromArray(array)
            item.SetSpacing((1.0, 1.0, 1.0))
            volumes.append(sitk.JoinSeries(item))
        return self._extractor().execute(volumes[0], sitk.Cast(volumes[1], sitk.sitkInt32))

    def preprocess(self, image: np.ndarray, preprocessing: str = "pil-l") -> np.ndarray:
        # The extraction itself runs here, in the feature pipeline's thread pool (SimpleITK and numpy release
        # the GIL): `features` then only lays the vectors side by side. Both layers come from one run.
        try:
            result = self.execute(image)
        except RuntimeError:  # CheXGenBench skips such an image: a row of NaN, dropped (and counted) by FRD
            width = self.layers["chexgenbench"] or 1
            return np.concatenate([[width - self.layers["radiomics"]], np.full(width, np.nan)])
        # pyradiomics' order, which CheXGenBench's CSV columns keep: the diagnostics first, then the features
        diagnostics = [float(v) for k, v in result.items() if k.startswith(DIAGNOSTIC_PREFIX) and _numeric(v)]
        features = [float(v) for k, v in result.items() if not k.startswith(DIAGNOSTIC_PREFIX)]
        return np.asarray([len(diagnostics)] + diagnostics + features, dtype=np.float64)

    def feature_names(self, image: np.ndarray) -> tuple[list[str], list[str]]:
        """(numeric diagnostic names, feature names) in output order, as pyradiomics names them."""
        result = self.execute(image)
        return ([k for k, v in result.items() if k.startswith(DIAGNOSTIC_PREFIX) and _numeric(v)],
                [k for k in result if not k.startswith(DIAGNOSTIC_PREFIX)])

    def features(self, inputs: list[np.ndarray], layer: str) -> np.ndarray:
        rows = []
        for row in inputs:
            n = int(row[0])  # how many diagnostics lead the row
            vector = row[1 + n:] if layer == "radiomics" else row[1:]
            expected = self.layers.get(layer, UNMEASURED)
            if expected and len(vector) != expected:
                raise InputError(f"pyradiomics {self.library} gave {len(vector)} values for layer {layer!r}, not the "
                                 f"{expected} of the pinned settings: a pyradiomics version that extracts "
                                 "differently; pin the version the profile names")
            rows.append(vector)
        widths = {len(r) for r in rows if not np.isnan(r).all()}
        if len(widths) == 1:  # an image pyradiomics failed on, before the width was known: NaN at the width
            width = widths.pop()
            rows = [r if len(r) == width else np.full(width, np.nan) for r in rows]
        if len({len(r) for r in rows}) > 1:
            raise InputError(f"pyradiomics gave vectors of different lengths ({sorted({len(r) for r in rows})}) "
                             f"for layer {layer!r}")
        return np.stack(rows).astype(np.float32)

    def forward(self, batch: Any, layer: str) -> Any:
        raise NotImplementedError("radiomics are computed per image (see preprocess)")


def _library_version() -> str:
    import importlib.util

    if importlib.util.find_spec("radiomics") is None or importlib.util.find_spec("SimpleITK") is None:
        raise InputError(f"FRD's radiomic features need pyradiomics and SimpleITK, which are not installed: {INSTALL}")
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("pyradiomics-bhklab", "pyradiomics"):
        try:
            return f"{dist} {version(dist)}"
        except PackageNotFoundError:
            continue
    return "pyradiomics (version unknown)"
