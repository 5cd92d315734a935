"""How CheXGenBench's `metrics/fid.py` hands images to its networks (FID, KID, IS on Inception; FD, KID,
PRDC on RAD-DINO): the file read as RGB, torchvision `Resize((299, 299))` on the PIL image (PIL
bilinear, which antialiases, to 299×299 whatever the aspect ratio), `ToTensor` (÷ 255), then
`(batch * 255).to(torch.uint8)` before torchmetrics sees it. That cast truncates, but (v/255)·255 in
float32 gives every grey level v back exactly, so it loses nothing (tests/test_chexgenbench_official.py);
it is kept in the same float32 arithmetic all the same, so the 299×299 uint8 images equal theirs bit for
bit. The squash to a square is theirs too: non-square radiographs are distorted, not cropped."""
from __future__ import annotations

import numpy as np
from PIL import Image

SIDE = 299


def chexgenbench_299(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] (a file's 8-bit channels / 255) → (299, 299, 3) uint8 as CheXGenBench's loop
    gives it to torchmetrics."""
    import torch

    u8 = np.clip(np.rint(np.asarray(rgb, np.float64) * 255.0), 0, 255).astype(np.uint8)
    small = np.asarray(Image.fromarray(u8, "RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR))
    as_tensor = torch.from_numpy(small.copy()).float().div(255)  # torchvision ToTensor
    return (as_tensor * 255).to(torch.uint8).numpy()  # their cast, truncating
