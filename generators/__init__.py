"""Generator plug-ins: `diffusers` (any text-to-image pipeline folder), `folder` (pre-generated
images), `real` (the reference images: the upper-bound row) and `callable` (a Python function).
The protocol they implement lives in `cxrgen_bench.generation.protocol`."""
