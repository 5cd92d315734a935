"""Procedural chest-radiograph phantoms with controllable findings, deterministic from a seed.

Anatomy: thorax and soft tissue, two lung fields (the patient's right lung on the image's left, as
radiographs are displayed), posterior ribs, clavicles, spine and mediastinum, heart silhouette,
hemidiaphragms with costophrenic angles, lung markings; PA, AP (magnified heart, higher
clavicles) and lateral views; exposure and positioning variation; quantum noise.

Findings carry their radiographic signs:
- pleural effusion: dependent opacity with a meniscus rising laterally, blunted costophrenic angle;
  side (left/right/bilateral) and size (small/moderate/large)
- cardiomegaly: cardiothoracic ratio 0.56–0.66 (normal 0.40–0.48)
- pneumothorax: a lucent rim without lung markings, bounded by a thin visceral pleural line; side
- consolidation: a dense, ill-defined opacity in a lobe (upper/middle/lower, right/left)
- edema: bilateral perihilar haze ("bat wing")
- support devices: endotracheal tube, central venous line, pacemaker with leads, nasogastric tube

Demographics, when a phantom has them (the subgroup known answers; none: rendered exactly as before):
- sex: a wider thorax for male, a narrower one with breast shadows over the lower lung fields for female
- age: bone density (ribs, clavicles, spine) falling with age, as osteopenia does

Everything is vectorised numpy over one coordinate grid; a 256² image takes a few milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

SIDES = ("left", "right")  # the patient's side
LOBES = ("upper", "middle", "lower")
SIZES = ("small", "moderate", "large")
DEVICES = ("endotracheal tube", "central line", "pacemaker", "nasogastric tube")
VIEWS = ("PA", "AP", "LATERAL")
# What the phantom evaluator reads (calibration/evaluator.py), in the order of its outputs
SIDE_OUTPUTS = ("Pleural Effusion", "Pneumothorax", "Consolidation")  # each (left, right)
OTHER_OUTPUTS = ("Cardiomegaly", "Edema", "Support Devices")
CLASS_NAMES = SIDE_OUTPUTS + OTHER_OUTPUTS


@dataclass(frozen=True)
class Findings:
    effusion: tuple[str, ...] = ()  # sides
    effusion_size: str = "moderate"
    cardiomegaly: bool = False
    pneumothorax: tuple[str, ...] = ()
    consolidation: tuple[tuple[str, str], ...] = ()  # (side, lobe)
    edema: bool = False
    devices: tuple[str, ...] = ()
    view: str = "PA"
    sex: str | None = None  # "female" / "male"; None: not rendered (the phantoms before demographics)
    age: int | None = None  # years; None: not rendered

    @property
    def normal(self) -> bool:
        return not (self.effusion or self.cardiomegaly or self.pneumothorax or self.consolidation or self.edema)

    def flipped(self) -> "Findings":
        """The same findings on the other side (for the flips-laterality stand-in)."""
        other = {"left": "right", "right": "left"}
        return replace(self, effusion=tuple(other[s] for s in self.effusion),
                       pneumothorax=tuple(other[s] for s in self.pneumothorax),
                       consolidation=tuple((other[s], lobe) for s, lobe in self.consolidation))


def targets(findings: "Findings") -> np.ndarray:
    """The findings as the evaluator's nine outputs: (left, right) per lateralised finding, then the others."""
    t = np.zeros(len(SIDE_OUTPUTS) * 2 + len(OTHER_OUTPUTS), np.float32)
    for i, values in enumerate((findings.effusion, findings.pneumothorax, [s for s, _ in findings.consolidation])):
        t[2 * i] = "left" in values
        t[2 * i + 1] = "right" in values
    t[6], t[7], t[8] = findings.cardiomegaly, findings.edema, bool(findings.devices)
    return t


def bone_density(age: int | None) -> float:
    """Bones' share of their young-adult density: 1 with no age given, about 1.15 at 20 and 0.6 at 85."""
    return 1.0 if age is None else float(np.clip(1.32 - 0.0085 * age, 0.5, 1.2))


SEXES = ("female", "male")


def random_demographics(rng: np.random.Generator) -> dict[str, object]:
    """A sex and an age (20–89) for a phantom, drawn from its own generator."""
    return {"sex": SEXES[int(rng.integers(2))], "age": int(rng.integers(20, 90))}


def random_findings(rng: np.random.Generator, view: str | None = None) -> Findings:
    """A plausible mix: about a third normal, lateralised findings on a random side."""
    if rng.random() < 0.3:
        return Findings(view=view or "PA", devices=("central line",) if rng.random() < 0.1 else ())
    side = lambda: SIDES[rng.integers(2)]  # noqa: E731
    effusion = (side(),) if rng.random() < 0.4 else ()
    if effusion and rng.random() < 0.15:
        effusion = ("left", "right")
    return Findings(
        effusion=effusion, effusion_size=SIZES[rng.integers(3)], cardiomegaly=bool(rng.random() < 0.3),
        pneumothorax=(side(),) if rng.random() < 0.25 else (),
        consolidation=((side(), LOBES[rng.integers(3)]),) if rng.random() < 0.3 else (),
        edema=bool(rng.random() < 0.2),
        devices=tuple(d for d in DEVICES if rng.random() < 0.15), view=view or "PA")


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / np.float32(size)
    return x, y


@lru_cache(maxsize=8)
def _textures(size: int) -> np.ndarray:
    """A bank of smooth random fields (lung markings), made once per size by spectral filtering."""
    rng = np.random.default_rng(12345)
    bank = []
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.rfftfreq(size), indexing="ij")
    radius = np.sqrt(fx ** 2 + fy ** 2)
    band = np.exp(-((radius - 0.06) / 0.03) ** 2)  # vessel-sized structures
    for _ in range(16):
        noise = np.fft.rfft2(rng.normal(size=(size, size)))
        field_ = np.fft.irfft2(noise * band, s=(size, size)).astype(np.float32)
        bank.append(field_ / field_.std())
    return np.stack(bank)


def _ellipse(x, y, cx, cy, rx, ry):
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2


def _soft(d, edge):
    """1 inside (d < 1), 0 outside, with a smooth edge of relative width `edge`."""
    return np.clip((1 - d) / edge, 0, 1)


def _line(x, y, points, width):
    """Distance-based mask of a polyline (devices, pleural lines)."""
    mask = np.zeros_like(x)
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy + 1e-9), 0, 1)
        dist = np.hypot(x - (x0 + t * dx), y - (y0 + t * dy))
        mask = np.maximum(mask, np.clip(1 - dist / width, 0, 1))
    return mask


def render(findings: Findings, seed: int, size: int = 256) -> np.ndarray:
    """A float32 (size, size) phantom radiograph in [0, 1]."""
    # the order of the steps that draw from `rng` is part of what a seed means: reordering them changes every phantom
    rng = np.random.default_rng(seed)
    x, y = _positioned_grid(rng, size)
    if findings.view == "LATERAL":
        return _lateral(findings, rng, x, y, size)
    chest = _frontal_chest(findings, rng, x, y, size)
    img = _thorax(chest)
    img = _pneumothorax(img, chest, findings.pneumothorax)
    img = _spine(img, chest)
    img = _breasts(img, chest, findings.sex)
    img = _heart_and_mediastinum(img, chest, findings, rng)
    img = _diaphragm(img, chest)
    img = _effusion(img, chest, findings.effusion, findings.effusion_size)
    img = _consolidation(img, chest, findings.consolidation, rng)
    img = _edema(img, chest, findings.edema)
    img = _clavicles(img, chest, findings.view == "AP")
    img = _devices(img, chest, findings.devices)
    return _exposure(img, rng)


def _positioned_grid(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The coordinate grid, shifted a little as patients are never placed the same way twice."""
    x, y = _grid(size)
    x = x + np.float32(rng.normal(0, 0.015))
    y = y + np.float32(rng.normal(0, 0.015))
    return x, y


@dataclass(frozen=True)
class _FrontalChest:
    """The anatomy of one PA or AP phantom that the findings are drawn over (image left = patient's right)."""

    x: np.ndarray
    y: np.ndarray
    body: np.ndarray
    bone: float  # share of young-adult bone density
    lung_r: np.ndarray
    lung_l: np.ndarray
    lungs: np.ndarray
    texture: np.ndarray
    markings: np.ndarray
    ribs: np.ndarray
    dome_r: np.ndarray  # the hemidiaphragms' upper edge; the right dome sits higher
    dome_l: np.ndarray

    def lung(self, side: str) -> np.ndarray:
        return self.lung_r if side == "right" else self.lung_l

    @staticmethod
    def centre_x(side: str) -> float:
        return 0.31 if side == "right" else 0.69


def _frontal_chest(findings: Findings, rng: np.random.Generator, x: np.ndarray, y: np.ndarray,
                   size: int) -> _FrontalChest:
    width = {"male": 0.49, "female": 0.42}.get(findings.sex or "", 0.46)
    body = _soft(_ellipse(x, y, 0.5, 0.62, width, 0.62), 0.08)
    lung_r = _soft(_ellipse(x, y, 0.31, 0.47, 0.16, 0.30), 0.12) * (y < 0.80)
    lung_l = _soft(_ellipse(x, y, 0.69, 0.47, 0.15, 0.29), 0.12) * (y < 0.78)
    texture = _textures(size)[rng.integers(16)]
    markings = 0.035 * texture * (0.6 + 0.4 * (1 - np.abs(x - 0.5) * 2))  # denser centrally
    # posterior rib arcs across each lung
    phase = rng.uniform(0, 2 * np.pi)
    ribs = 0.5 + 0.5 * np.cos(2 * np.pi * (y * 9.0 - 0.9 * (x - 0.5) ** 2 * 4) + phase)
    ribs = (ribs > 0.72).astype(np.float32) * 0.06
    return _FrontalChest(
        x=x, y=y, body=body, bone=bone_density(findings.age), lung_r=lung_r, lung_l=lung_l,
        lungs=np.maximum(lung_r, lung_l), texture=texture, markings=markings, ribs=ribs,
        dome_r=0.78 - 0.10 * np.exp(-((x - 0.31) / 0.13) ** 2), dome_l=0.80 - 0.09 * np.exp(-((x - 0.69) / 0.12) ** 2))


def _thorax(chest: _FrontalChest) -> np.ndarray:
    """Soft tissue, and the lung fields with their markings and ribs."""
    img = 0.04 + 0.30 * chest.body
    lungs = chest.lungs
    lung_density = 0.16 - 0.20 * lungs + chest.markings * lungs + chest.bone * chest.ribs * (chest.body > 0.5)
    return img + lung_density * (lungs > 0)


def _pneumothorax(img: np.ndarray, chest: _FrontalChest, sides: tuple[str, ...]) -> np.ndarray:
    """A lateral rim without markings, bounded by the visceral pleural line."""
    x, y = chest.x, chest.y
    for side in sides:
        cx = chest.centre_x(side)
        lateral = (x < cx - 0.02) if side == "right" else (x > cx + 0.02)
        lung = chest.lung(side)
        rim = (_ellipse(x, y, cx, 0.47, 0.16, 0.30) > 0.55) & lateral & (lung > 0.3) & (y < 0.62)
        img = np.where(rim, img - chest.markings * chest.lungs - chest.ribs * 0.5 - 0.035, img)
        inner = (_ellipse(x, y, cx, 0.47, 0.16 * 0.74, 0.30 * 0.74))
        pleural_line = np.clip(1 - np.abs(inner - 1) / 0.05, 0, 1) * lateral * (y < 0.62) * (lung > 0.3)
        img = img + 0.09 * pleural_line
    return img


def _spine(img: np.ndarray, chest: _FrontalChest) -> np.ndarray:
    spine = np.exp(-((chest.x - 0.5) / 0.035) ** 2) * chest.body
    return img + 0.20 * chest.bone * spine


def _breasts(img: np.ndarray, chest: _FrontalChest, sex: str | None) -> np.ndarray:
    """Soft-tissue shadows over the lower lung fields of a female phantom."""
    if sex != "female":
        return img
    x, y = chest.x, chest.y
    breasts = _soft(_ellipse(x, y, 0.29, 0.74, 0.14, 0.10), 0.5) + _soft(_ellipse(x, y, 0.71, 0.74, 0.14, 0.10), 0.5)
    return img + 0.08 * breasts


def _heart_and_mediastinum(img: np.ndarray, chest: _FrontalChest, findings: Findings,
                           rng: np.random.Generator) -> np.ndarray:
    """The heart at a cardiothoracic ratio drawn from the normal or the enlarged range."""
    x, y = chest.x, chest.y
    ctr = rng.uniform(0.56, 0.66) if findings.cardiomegaly else rng.uniform(0.40, 0.48)
    if findings.view == "AP":
        ctr += 0.04  # AP projection magnifies the heart
    heart_w = ctr * 0.92 / 2
    heart = _soft(_ellipse(x, y, 0.53, 0.63, heart_w, 0.14), 0.10)
    img = img + 0.22 * heart
    mediastinum = _soft(_ellipse(x, y, 0.5, 0.35, 0.07, 0.22), 0.3)
    return img + 0.12 * mediastinum


def _diaphragm(img: np.ndarray, chest: _FrontalChest) -> np.ndarray:
    """Everything below the hemidiaphragms, with sharp costophrenic angles."""
    x, y = chest.x, chest.y
    below = np.where(x < 0.5, y > chest.dome_r, y > chest.dome_l) & (chest.body > 0.3)
    return np.where(below, np.maximum(img, 0.52 + 0.04 * chest.texture * 0.2), img)


def _effusion(img: np.ndarray, chest: _FrontalChest, sides: tuple[str, ...], size: str) -> np.ndarray:
    """Dependent density with a meniscus rising laterally, which blunts the costophrenic angle."""
    x, y = chest.x, chest.y
    height = {"small": 0.06, "moderate": 0.14, "large": 0.24}[size]
    for side in sides:
        cx = chest.centre_x(side)
        dome = chest.dome_r if side == "right" else chest.dome_l
        lateral_rise = 0.10 * np.clip(np.abs(x - cx) / 0.16, 0, 1) ** 2
        level = dome - height - lateral_rise * (height / 0.14)
        fluid = np.clip((y - level) / 0.02, 0, 1) * (chest.lung(side) > 0.05) * (np.abs(x - cx) < 0.2)
        img = img * (1 - fluid) + fluid * (0.48 + 0.02 * chest.texture)
    return img


def _consolidation(img: np.ndarray, chest: _FrontalChest, sites: tuple[tuple[str, str], ...],
                   rng: np.random.Generator) -> np.ndarray:
    """A dense, ill-defined opacity in each (side, lobe)."""
    x, y = chest.x, chest.y
    for side, lobe in sites:
        cx = chest.centre_x(side)
        cy = {"upper": 0.32, "middle": 0.50, "lower": 0.64}[lobe]
        blob = np.exp(-_ellipse(x, y, cx + rng.normal(0, 0.02), cy, 0.085, 0.07) * 1.2)
        img = img + 0.22 * blob * (chest.lung(side) > 0.05) * (1 + 0.3 * chest.texture)
    return img


def _edema(img: np.ndarray, chest: _FrontalChest, present: bool) -> np.ndarray:
    """Bilateral perihilar haze ("bat wing")."""
    if not present:
        return img
    x, y, lungs = chest.x, chest.y, chest.lungs
    haze = np.exp(-_ellipse(x, y, 0.36, 0.50, 0.12, 0.15)) + np.exp(-_ellipse(x, y, 0.64, 0.50, 0.12, 0.15))
    return img + 0.10 * haze * lungs + 0.04 * np.abs(chest.texture) * lungs


def _clavicles(img: np.ndarray, chest: _FrontalChest, ap: bool) -> np.ndarray:
    clav_y = 0.17 if ap else 0.21  # an AP projection shows them higher
    for sign in (-1, 1):
        clav = _line(chest.x, chest.y, [(0.5 + sign * 0.06, clav_y + 0.03), (0.5 + sign * 0.34, clav_y - 0.03)], 0.018)
        img = img + 0.16 * chest.bone * clav
    return img


def _devices(img: np.ndarray, chest: _FrontalChest, devices: tuple[str, ...]) -> np.ndarray:
    x, y = chest.x, chest.y
    for device in devices:
        if device == "endotracheal tube":
            img = img + 0.25 * _line(x, y, [(0.5, 0.0), (0.5, 0.24)], 0.007)
        elif device == "central line":
            img = img + 0.22 * _line(x, y, [(0.22, 0.16), (0.38, 0.22), (0.47, 0.30), (0.48, 0.42)], 0.005)
        elif device == "pacemaker":
            box = (np.abs(x - 0.77) < 0.04) & (np.abs(y - 0.24) < 0.025)
            img = np.where(box, 0.95, img)
            img = img + 0.22 * _line(x, y, [(0.77, 0.24), (0.60, 0.35), (0.52, 0.55), (0.56, 0.66)], 0.004)
        elif device == "nasogastric tube":
            img = img + 0.2 * _line(x, y, [(0.49, 0.0), (0.49, 0.55), (0.56, 0.82), (0.64, 0.88)], 0.005)
    return img


def _exposure(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposure, contrast and quantum noise."""
    gamma = rng.uniform(0.85, 1.15)
    img = np.clip(img, 0, 1) ** gamma
    img = img * rng.uniform(0.9, 1.05) + rng.normal(0, 0.012, img.shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


def _lateral(findings: Findings, rng: np.random.Generator, x, y, size: int) -> np.ndarray:
    """A simplified lateral view: one lung field, spine posterior, heart anterior, retrocardiac space."""
    body = _soft(_ellipse(x, y, 0.5, 0.6, 0.42, 0.6), 0.08)
    img = 0.04 + 0.32 * body
    lung = _soft(_ellipse(x, y, 0.48, 0.48, 0.28, 0.32), 0.12) * (y < 0.82)
    texture = _textures(size)[rng.integers(16)]
    img = img - 0.16 * lung + 0.03 * texture * lung
    spine = _soft(np.abs(x - 0.80) / 0.06, 0.5) * body
    img = img + 0.22 * bone_density(findings.age) * spine
    heart_size = 0.20 if findings.cardiomegaly else 0.14
    img = img + 0.2 * _soft(_ellipse(x, y, 0.32, 0.62, heart_size, 0.16), 0.1)
    if findings.effusion:
        height = {"small": 0.05, "moderate": 0.1, "large": 0.18}[findings.effusion_size]
        img = np.where((y > 0.78 - height - 0.12 * (x - 0.2) ** 2) & (lung > 0.05), 0.46, img)
    if findings.consolidation:
        img = img + 0.2 * np.exp(-_ellipse(x, y, 0.5, 0.5, 0.1, 0.08)) * lung
    gamma = rng.uniform(0.85, 1.15)
    img = np.clip(img, 0, 1) ** gamma + rng.normal(0, 0.012, img.shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)
