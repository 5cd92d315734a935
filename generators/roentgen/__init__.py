"""The reference RoentGen trainer (Stable Diffusion fine-tuning on CXR image/report pairs) and the
seeds' fine-tuning baselines. Entry point: `cxrgen-bench train METHOD ...` (see train.py)."""
