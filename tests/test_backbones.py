"""Each backbone loads random weights saved in its official format through the real loading code;
the Inception network also runs with the one real FID file available offline."""
import numpy as np
import pytest
import torch
from PIL import Image

from cxrgen_bench.models.image import build_backbone
from cxrgen_bench.models.image.inception_tf import TFInceptionV3
from cxrgen_bench.data.images import read_image
from cxrgen_bench.functional.resize import center_crop_or_pad, clean_resize
from cxrgen_bench.profiles import get_profile

PROFILE = get_profile("roentgen2022")


def backbone(name, **kw):
    return build_backbone(name, PROFILE.backbone(name), **kw)


def test_clean_resize_matches_clean_fid():
    resize = pytest.importorskip("cleanfid.resize")
    img = np.random.default_rng(0).uniform(0, 255, (333, 411)).astype(np.float32)
    theirs = resize.make_resizer("PIL", False, "bicubic", (299, 299))(np.stack([img] * 3, -1))  # clean-fid takes RGB
    for channel in range(3):
        np.testing.assert_array_equal(clean_resize(img, (299, 299)), theirs[..., channel])


def test_centre_crop_pads_the_short_side():
    img = np.ones((10, 6), np.float32)
    out = center_crop_or_pad(img, 8)
    assert out.shape == (8, 8) and out[:, 0].sum() == 0 and out[:, 1:7].all()


# --- inception-v3-fid ---------------------------------------------------------------------------

@pytest.mark.real_weights
def test_inception_equals_torchscript_forward_on_real_file(inception_weights, real_cxr_jpegs):
    net = backbone("inception-v3-fid", weights=str(inception_weights))
    inputs = np.stack([net.preprocess(read_image(p).pixels, "clean-299") for p in real_cxr_jpegs[:3]])
    ours = net.features(list(inputs), "pool3")
    scripted = torch.jit.load(str(inception_weights), map_location="cpu").eval()  # trusted: pinned sha256
    with torch.no_grad():
        theirs = scripted(torch.from_numpy(inputs)).numpy()
    assert ours.shape == (3, 2048)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.real_weights
def test_inception_folded_batch_norm_moves_features_in_the_last_bits_only(inception_weights, real_cxr_jpegs):
    """The batch norm folded into each convolution at load (ConvBN.fold) against the file's own conv + BN."""
    from cxrgen_bench.models.image.inception_tf import ConvBN, FoldedConvBN

    net = backbone("inception-v3-fid", weights=str(inception_weights))
    x = torch.from_numpy(np.stack([net.preprocess(read_image(p).pixels, "clean-299") for p in real_cxr_jpegs[:2]]))
    convs = [m for m in net.model.modules() if isinstance(m, ConvBN)]
    assert len(convs) == 94 and all(type(m) is FoldedConvBN for m in convs)
    with torch.no_grad():
        folded = net.model(x).numpy()
        for m in convs:
            m.unfold()  # back to conv then batch norm, as the TorchScript file computes
        unfolded = net.model(x).numpy()
    assert np.abs(folded - unfolded).max() <= 1e-5 * np.abs(unfolded).max()


@pytest.mark.real_weights
def test_inception_pinned_features_of_a_real_radiograph(inception_weights, real_cxr_jpegs):
    net = backbone("inception-v3-fid", weights=str(inception_weights))
    feats = net.features([net.preprocess(read_image(real_cxr_jpegs[0]).pixels, "clean-299")], "pool3")[0]
    assert feats.min() >= 0  # pool3 follows a ReLU
    np.testing.assert_allclose(feats[:4], PINNED_INCEPTION, rtol=1e-4, atol=1e-5)


PINNED_INCEPTION = [0.66671908, 0.31042999, 0.28442836, 0.37871972]


def test_inception_random_weights_in_torchscript_format(tmp_path):
    torch.manual_seed(0)
    model = TFInceptionV3().eval()
    for p in model.parameters():
        p.data.normal_(0, 0.05)
    for name, buf in model.named_buffers():
        buf.copy_(torch.rand_like(buf) + 0.5 if name.endswith("var") else torch.randn_like(buf) * 0.1)
    path = tmp_path / "inception-2015-12-05.pt"
    torch.jit.script(model).save(str(path))
    net = backbone("inception-v3-fid", weights=str(path), allow_pickle=True)
    x = torch.randn(2, 3, 299, 299)
    with torch.no_grad():
        assert torch.allclose(net.model(x), model(x), atol=1e-5)
    assert net.provenance["format"] == "torchscript"


# --- xrv-densenet121 ----------------------------------------------------------------------------

def test_xrv_random_weights_in_official_pickled_format(xrv_random_weights):
    import torchxrayvision as xrv

    net = backbone("xrv-densenet121", weights=str(xrv_random_weights), allow_pickle=True)
    reference = torch.load(xrv_random_weights, weights_only=False).eval()
    x = torch.randn(2, 1, 224, 224)
    with torch.no_grad():
        # channels_last kernels sum in another order: equal up to float32 rounding
        torch.testing.assert_close(net.forward(x, "features2"), reference.features2(x), rtol=1e-4, atol=1e-5)
        scores = net.forward(x, "classifier")
    assert scores.shape == (2, 18) and net.class_names == xrv.models.model_urls["densenet121-res224-all"]["labels"]


def test_xrv_preprocessings(xrv_random_weights, dicom_file):
    import torchxrayvision as xrv

    net = backbone("xrv-densenet121", weights=str(xrv_random_weights), allow_pickle=True)
    img = read_image(dicom_file).pixels  # 1955 × 1841
    fid_in = net.preprocess(img, "roentgen2022-xrv")
    # the same steps spelled with torchxrayvision's own functions
    x = xrv.utils.normalize(clean_resize(img * 255, (299, 299)), 255)[None]
    expected = xrv.datasets.XRayResizer(224)(xrv.datasets.XRayCenterCrop()(x))
    np.testing.assert_allclose(fid_in, expected, rtol=1e-6, atol=1e-3)
    cls_in = net.preprocess(img, "roentgen2022-classifier")
    assert cls_in.shape == (1, 224, 224) and cls_in.min() >= -1024 and cls_in.max() <= 1024
    # the padded (narrower) side is black; torchxrayvision's anti-aliased resize blurs it slightly toward 0
    assert cls_in[0, :, 0].max() < -850 and cls_in[0, :, 112].mean() > cls_in[0, :, 0].mean() + 200


# --- clip-vit-b-32 ------------------------------------------------------------------------------

def test_clip_random_weights_and_openai_preprocessing(clip_random_weights):
    import open_clip

    net = backbone("clip-vit-b-32", weights=str(clip_random_weights))
    img = np.random.default_rng(0).uniform(0, 1, (300, 260)).astype(np.float32)
    ours = net.preprocess(img, "openai-clip-224")
    _, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32-quickgelu", pretrained=None)
    pil = Image.fromarray(np.rint(img * 255).astype(np.uint8)).convert("RGB")
    np.testing.assert_allclose(ours, preprocess(pil).numpy(), atol=1e-6)
    feats = net.features([ours, ours], "image_embeds")
    assert feats.shape == (2, 512) and np.allclose(feats[0], feats[1], atol=1e-5)


def test_clip_openai_jit_extra_keys_are_accepted(clip_random_weights, tmp_path):
    sd = torch.load(clip_random_weights, weights_only=True)
    sd.update(input_resolution=torch.tensor(224), context_length=torch.tensor(77), vocab_size=torch.tensor(49408))
    path = tmp_path / "openai_like.pt"
    torch.save(sd, path)
    assert backbone("clip-vit-b-32", weights=str(path)).model is not None
