"""Models grouped by modality, each kind with its own registry and one weights/provenance mechanism
(base.py): image encoders ("backbones", image/), text encoders (text/), report generators (report/)
and labellers (labellers/)."""
