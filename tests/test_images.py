import numpy as np
import pytest
from PIL import Image

from cxrgen_bench.data.images import read_image
from cxrgen_bench.errors import InputError


def test_8bit_gray(tmp_path):
    arr = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(arr).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.pixels.dtype == np.float32 and out.pixels.shape == (16, 16)
    np.testing.assert_allclose(out.pixels, arr / 255.0, atol=1e-7)


def test_16bit_png_keeps_full_precision(tmp_path):
    arr = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "b.png")
    out = read_image(tmp_path / "b.png")
    np.testing.assert_allclose(out.pixels, arr / 65535.0, atol=1e-6)
    assert any("16-bit" in c for c in out.coercions)
    assert len(np.unique(out.pixels)) > 256  # not quantised to 8 bits


def test_rgb_uses_bt601_luma(tmp_path):
    arr = np.zeros((8, 8, 3), np.uint8)
    arr[..., 0], arr[..., 1], arr[..., 2] = 200, 100, 50
    Image.fromarray(arr).save(tmp_path / "c.png")
    expected = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255
    np.testing.assert_allclose(read_image(tmp_path / "c.png").pixels, expected, atol=1e-6)


def test_gray_replicated_rgb_equals_gray(tmp_path):
    gray = np.random.default_rng(0).integers(0, 256, (20, 30)).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    Image.fromarray(np.stack([gray] * 3, -1)).save(tmp_path / "rgb.png")
    np.testing.assert_allclose(read_image(tmp_path / "g.png").pixels, read_image(tmp_path / "rgb.png").pixels, atol=1e-6)


def test_rgba_alpha_composited_on_black(tmp_path):
    arr = np.full((4, 4, 4), 255, np.uint8)
    arr[0, 0, 3] = 0
    Image.fromarray(arr, "RGBA").save(tmp_path / "d.png")
    out = read_image(tmp_path / "d.png")
    assert out.pixels[0, 0] == 0 and out.pixels[1, 1] == pytest.approx(1.0)
    assert "alpha composited on black" in out.coercions
    opaque = np.full((4, 4, 4), 255, np.uint8)
    Image.fromarray(opaque, "RGBA").save(tmp_path / "e.png")
    assert read_image(tmp_path / "e.png").coercions == []


def partly_transparent() -> np.ndarray:
    """(12, 10, 4) RGBA: opaque rows, half-transparent rows, and a bright row that is fully transparent."""
    arr = np.random.default_rng(4).integers(0, 256, (12, 10, 4)).astype(np.uint8)
    arr[:4, :, 3] = 255
    arr[4:8, :, 3] = 128
    arr[-1, :, :3], arr[-1, :, 3] = 240, 0
    return arr


def palette_with_transparency(path) -> None:
    indices = np.random.default_rng(5).integers(0, 4, (12, 10)).astype(np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette([250, 250, 250, 10, 200, 30, 120, 60, 240, 0, 0, 0])
    image.save(path, transparency=0)  # index 0, the brightest, is transparent


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
def test_alpha_drop_reads_a_file_as_pils_convert(tmp_path, mode):
    """`alpha: drop` is what PIL's convert("RGB") / convert("L") give (the peers' reading, bit for bit); the
    default lays the file on black. Fully transparent bright pixels are black in one, bright in the other."""
    path = tmp_path / f"{mode}.png"
    if mode == "PA":
        palette_with_transparency(path)
    else:
        arr = partly_transparent()
        Image.fromarray(arr if mode == "RGBA" else arr[..., [0, 3]], mode).save(path)
    loaded = read_image(path)
    dropped = loaded.under("drop")
    with Image.open(path) as image:
        rgb, grey = np.asarray(image.convert("RGB")), np.asarray(image.convert("L"))
    assert np.array_equal(np.rint(dropped.rgb() * 255).astype(np.uint8), rgb)
    assert np.array_equal(np.rint(dropped.pil_l() * 255).astype(np.uint8), grey)
    assert loaded.under("composite-black") is loaded and "alpha composited on black" in loaded.coercions
    assert "alpha dropped" in dropped.coercions
    apart = np.abs(np.rint(loaded.rgb() * 255) - rgb).max()
    assert apart >= 200  # the transparent bright pixels: black composited, as stored when dropped
    with pytest.raises(InputError, match="alpha rule 'keep'"):
        loaded.under("keep")


def test_alpha_rules_agree_on_opaque_files(tmp_path):
    arr = partly_transparent()
    arr[..., 3] = 255
    Image.fromarray(arr, "RGBA").save(tmp_path / "opaque.png")
    loaded = read_image(tmp_path / "opaque.png")
    assert loaded.alpha_dropped is None and loaded.under("drop") is loaded


def test_a_backbone_reads_transparent_files_by_its_profile_block(tmp_path):
    """The rule is the backbone block's `alpha` (chexgenbench2025 and roentgen2022 drop it, as PIL does in
    the peers' scripts); it enters the feature cache's key and is refused by name when misspelt."""
    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.profiles import get_profile

    Image.fromarray(partly_transparent(), "RGBA").save(tmp_path / "t.png")
    loaded = read_image(tmp_path / "t.png")
    cfg = dict(get_profile("roentgen2022").backbone("xrv-densenet121"))
    keep, drop = ({**cfg, "alpha": rule} for rule in ("composite-black", "drop"))
    nets = {rule: build_backbone("xrv-densenet121", c, state_dict={}) for rule, c in (("black", keep), ("drop", drop))}
    with Image.open(tmp_path / "t.png") as image:
        rgb = np.asarray(image.convert("RGB"))
    prep = cfg["preprocessing"]  # a colour preprocessing: the file's RGB
    assert np.array_equal(np.rint(nets["drop"].input_image(loaded, prep) * 255).astype(np.uint8), rgb)
    assert not np.array_equal(nets["black"].input_image(loaded, prep), nets["drop"].input_image(loaded, prep))
    bare = {k: v for k, v in cfg.items() if k != "alpha"}
    assert nets["black"].extractor_key(prep, "features2") == \
        build_backbone("xrv-densenet121", bare, state_dict={}).extractor_key(prep, "features2")
    assert nets["drop"].extractor_key(prep, "features2") != nets["black"].extractor_key(prep, "features2")
    with pytest.raises(InputError, match=r"backbones\.xrv-densenet121\.alpha"):
        build_backbone("xrv-densenet121", {**cfg, "alpha": "drop-it"}, state_dict={})
    for profile, names in (("chexgenbench2025", ("inception-v3-fid", "rad-dino", "pyradiomics", "biovil-t",
                                                 "reid-siamese")),
                           ("roentgen2022", ("inception-v3-fid", "xrv-densenet121", "clip-vit-b-32"))):
        assert all(get_profile(profile).backbone(n)["alpha"] == "drop" for n in names), profile


def test_ms_ssim_reads_transparent_files_by_its_alpha_setting(tmp_path):
    """roentgen2022's MS-SSIM reads files as the official script's convert("L") does: alpha dropped."""
    from cxrgen_bench.metrics.ms_ssim import IntraPromptMSSSIM
    from cxrgen_bench.profiles import get_profile

    Image.fromarray(partly_transparent(), "RGBA").save(tmp_path / "t.png")
    official = IntraPromptMSSSIM(get_profile("roentgen2022").settings_for("ms_ssim"))
    with Image.open(tmp_path / "t.png") as image:
        grey = np.asarray(image.convert("L"))
    assert np.array_equal(np.rint(official.grayscale(tmp_path / "t.png") * 255).astype(np.uint8), grey)
    laid_on_black = IntraPromptMSSSIM({"grayscale": "pil-L"}).grayscale(tmp_path / "t.png")
    assert np.rint(laid_on_black[-1] * 255).max() == 0


def test_real_dicom_monochrome1_is_inverted(dicom_file):
    import pydicom

    out = read_image(dicom_file)
    assert out.pixels.shape == (1955, 1841)
    assert 0.0 <= out.pixels.min() and out.pixels.max() <= 1.0
    assert any("MONOCHROME1" in c for c in out.coercions)
    raw = pydicom.dcmread(dicom_file).pixel_array.astype(float)
    # inversion: raw intensity and our intensity are negatively correlated
    assert np.corrcoef(raw.ravel()[::97], out.pixels.ravel()[::97])[0, 1] < -0.9


def test_real_jpeg_radiograph(real_cxr_jpegs):
    out = read_image(real_cxr_jpegs[0])
    assert out.pixels.ndim == 2 and 0.0 <= out.pixels.min() < out.pixels.max() <= 1.0


@pytest.mark.parametrize("content,match", [
    (b"", "empty"),
    (b"not an image at all", "not a readable image"),
])
def test_bad_files_name_the_file(tmp_path, content, match):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(InputError, match=match) as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_truncated_png(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (300, 300)).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.png"):
        read_image(tmp_path / "cut.png")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_image(tmp_path / "nope.png")


def test_image_set_loading_checks_every_file(tmp_path):
    from cxrgen_bench.data import ImageSet

    arr = np.random.default_rng(0).integers(0, 256, (64, 64)).astype(np.uint8)
    for k in range(2):
        Image.fromarray(arr).save(tmp_path / f"a_{k}.png")
    Image.fromarray(arr).save(tmp_path / "b_0.jpg")
    Image.fromarray(arr).save(tmp_path / "b_1.jpg")
    ImageSet.from_folder(tmp_path)
    data = (tmp_path / "b_1.jpg").read_bytes()
    (tmp_path / "b_1.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="b_1.jpg: truncated JPEG"):
        ImageSet.from_folder(tmp_path)
    (tmp_path / "b_1.jpg").write_bytes(data)
    png = (tmp_path / "a_1.png").read_bytes()
    (tmp_path / "a_1.png").write_bytes(png[:-30])
    with pytest.raises(InputError, match="a_1.png"):
        ImageSet.from_folder(tmp_path)


def test_real_dicom_jpeg2000_lossless_equals_uncompressed(dicom_file):
    from pydicom.data import get_testdata_file

    j2k = get_testdata_file("RG1_J2KR.dcm")
    np.testing.assert_array_equal(read_image(j2k).pixels, read_image(dicom_file).pixels)


def write_dicom(path, pixels, photometric="MONOCHROME2", slope=None, intercept=None, window=None):
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_rescale_window_and_monochrome1(tmp_path):
    raw = np.tile(np.arange(0, 4096, 16, dtype=np.uint16), (8, 1))  # 12-bit ramp
    plain = read_image(write_dicom(tmp_path / "plain.dcm", raw)).pixels
    np.testing.assert_allclose(plain, raw / 4080.0, atol=1e-6)  # min-max to [0, 1]
    rescaled = read_image(write_dicom(tmp_path / "rescaled.dcm", raw, slope=2, intercept=-1000)).pixels
    np.testing.assert_allclose(rescaled, plain, atol=1e-6)  # a linear modality LUT keeps the normalised image
    windowed = read_image(write_dicom(tmp_path / "w.dcm", raw, window=(2048, 1024))).pixels
    assert windowed[0, 0] == 0 and windowed[0, -1] == 1 and 0 < windowed[0, 128] < 1  # outside the window: clipped
    assert (np.diff(windowed[0]) >= 0).all()
    inverted = read_image(write_dicom(tmp_path / "m1.dcm", raw, photometric="MONOCHROME1")).pixels
    np.testing.assert_allclose(inverted, 1 - plain, atol=1e-6)
