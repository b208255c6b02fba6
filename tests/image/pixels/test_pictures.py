import json

import pytest
import torch

from textvae.core.curves import plot_curves
from textvae.image.pixels.pictures import (
    PAD,
    manifold_points,
    save_grid,
    save_manifold,
    save_reconstructions,
    save_traversals,
    tile,
    traversal_points,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
H, W = 7, 5  # distinct odd sizes so a transposed tile cannot pass


def read_png(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_MAGIC
    return imread(path)  # (rows, columns, 4) RGBA floats in [0, 1]


def tiled_size(rows, cols, h=H, w=W):
    return rows * (h + PAD) + PAD, cols * (w + PAD) + PAD


def images(n, c=1, seed=0):
    return torch.rand(n, c, H, W, generator=torch.Generator().manual_seed(seed))


def test_save_grid_writes_a_png_of_the_tiled_size(tmp_path):
    path = save_grid(images(11), tmp_path / "deep" / "er" / "grid.png", nrow=3)
    assert path == tmp_path / "deep" / "er" / "grid.png"
    assert read_png(path).shape[:2] == tiled_size(rows=4, cols=3)
    default = save_grid(images(11, c=3), tmp_path / "rgb.png")  # ceil(sqrt(11)) = 4 per row
    assert read_png(default).shape[:2] == tiled_size(rows=3, cols=4)
    # only the PNGs are left: the temporary files were renamed
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["grid.png", "rgb.png"]


def test_save_grid_keeps_the_pixels(tmp_path):
    batch = images(3)
    pixels = read_png(save_grid(batch, tmp_path / "g.png", nrow=3))
    # 8-bit PNG: the second tile's grey levels match the input to within rounding
    second = torch.from_numpy(pixels[PAD : PAD + H, 2 * PAD + W : 2 * PAD + 2 * W, 0].copy())
    assert torch.allclose(second, batch[1, 0], atol=1 / 255 + 1e-6)


def test_tile_places_images_row_major():
    batch = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 1, H, W) / 4
    canvas = tile(batch, nrow=2)
    assert canvas.shape == (1, *tiled_size(rows=3, cols=2))
    # image 3 sits in row 1, column 1
    top, left = PAD + (H + PAD), PAD + (W + PAD)
    assert torch.all(canvas[0, top : top + H, left : left + W] == 3 / 4)


def test_save_reconstructions_interleaves_pairs(tmp_path):
    inputs = torch.zeros(5, 1, H, W)
    recons = torch.ones(5, 1, H, W)
    pixels = read_png(save_reconstructions(inputs, recons, tmp_path / "r.png", pairs_per_row=2))
    assert pixels.shape[:2] == tiled_size(rows=3, cols=4)
    row = pixels[PAD + H // 2, :, 0]  # a line through the first row of tiles
    centres = [PAD + j * (W + PAD) + W // 2 for j in range(4)]
    assert [float(row[c]) for c in centres] == [0.0, 1.0, 0.0, 1.0]


def test_manifold_points_are_normal_quantiles_on_a_grid():
    n = 5
    points = manifold_points(n)
    expected = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9]))
    assert points.shape == (n * n, 2)
    grid = points.view(n, n, 2)  # (rows, columns, 2)
    assert torch.allclose(grid[0, :, 0], expected, atol=1e-6)  # z1 across a row, growing right
    assert torch.allclose(grid[:, 0, 1], expected.flip(0), atol=1e-6)  # z2 grows upwards
    assert torch.all(grid[:, :, 0] == grid[:1, :, 0]) and torch.all(grid[:, :, 1] == grid[:, :1, 1])


def test_save_manifold_decodes_exactly_the_grid(tmp_path):
    seen = []

    def decode(z):
        seen.append(z.clone())
        # brightness = normal CDF of z1, so the tiles get brighter to the right
        level = torch.special.ndtr(z[:, 0]).view(-1, 1, 1, 1)
        return level.expand(z.shape[0], 1, H, W)

    n = 7
    pixels = read_png(save_manifold(decode, tmp_path / "m.png", n=n))
    assert len(seen) == 1 and seen[0].shape == (n * n, 2)
    quantiles = (torch.arange(n) + 0.5) / n
    assert torch.allclose(torch.special.ndtr(seen[0][:n, 0]), quantiles, atol=1e-6)
    assert torch.allclose(torch.special.ndtr(seen[0][::n, 1]), quantiles.flip(0), atol=1e-6)
    assert pixels.shape[:2] == tiled_size(rows=n, cols=n)
    centres = [PAD + j * (W + PAD) + W // 2 for j in range(n)]
    brightness = [float(pixels[PAD + H // 2, c, 0]) for c in centres]
    assert brightness == pytest.approx(quantiles.tolist(), abs=1 / 255 + 1e-6)


def test_traversal_rows_vary_only_the_named_dimension():
    z0 = torch.tensor([0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7])
    points = traversal_points(z0, dims=[4, 1, 6])
    assert points.shape == (3, 9, 7)
    for row, d in enumerate([4, 1, 6]):
        assert torch.allclose(points[row, :, d], torch.linspace(-3, 3, 9))
        others = [k for k in range(7) if k != d]
        assert torch.equal(points[row][:, others], z0[others].expand(9, 6))
    assert traversal_points(z0).shape == (7, 9, 7)
    assert torch.equal(traversal_points(z0, [2], [0.5, 1.5])[0, :, 2], torch.tensor([0.5, 1.5]))


def test_save_traversals_tiles_dims_by_values(tmp_path):
    z_dim = 5
    seen = []

    def decode(z):
        seen.append(z.clone())
        return torch.sigmoid(z.sum(dim=1)).view(-1, 1, 1, 1).expand(z.shape[0], 3, H, W)

    z0 = torch.zeros(z_dim)
    path = save_traversals(decode, z0, tmp_path / "t.png", dims=[3, 0], values=[-1, 0, 1])
    pixels = read_png(path)
    assert pixels.shape[:2] == tiled_size(rows=2, cols=3)
    z = seen[0].view(2, 3, z_dim)
    assert torch.equal(z[0, :, 3], torch.tensor([-1.0, 0.0, 1.0])) and torch.all(z[1, :, 3] == 0)
    assert torch.equal(z[1, :, 0], torch.tensor([-1.0, 0.0, 1.0])) and torch.all(z[0, :, 0] == 0)
    default = read_png(save_traversals(decode, z0, tmp_path / "all.png"))
    assert default.shape[:2] == tiled_size(rows=z_dim, cols=9)


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        save_grid(torch.rand(3, H, W), tmp_path / "x.png")
    with pytest.raises(ValueError, match="channels"):
        save_grid(torch.rand(3, 2, H, W), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        save_grid(torch.rand(3, 1, H, W) * 2, tmp_path / "x.png")
    with pytest.raises(ValueError, match="same shape"):
        save_reconstructions(images(3), images(4), tmp_path / "x.png")
    with pytest.raises(ValueError, match="images for 9 points"):
        save_manifold(lambda z: torch.rand(8, 1, H, W), tmp_path / "x.png", n=3)
    with pytest.raises(ValueError, match="z0"):
        save_traversals(lambda z: z, torch.zeros(2, 3), tmp_path / "x.png")
    with pytest.raises(ValueError, match="dims"):
        traversal_points(torch.zeros(3), dims=[3])
    assert not list(tmp_path.iterdir())  # nothing half-written


def write_metrics(path):
    rows = []
    for step in range(0, 50, 10):
        rows.append({"split": "train", "step": step, "epoch": 0, "loss": 5 - step / 10, "kl": 0.1})
        if step % 20 == 0:
            rows.append({"split": "valid", "step": step, "elbo": -3.0 - step, "note": "ok"})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    return path


def test_plot_curves_writes_one_subplot_per_key(tmp_path):
    metrics = write_metrics(tmp_path / "metrics.jsonl")
    two = read_png(plot_curves(metrics, tmp_path / "plots" / "two.png", keys=["loss", "elbo"]))
    every = read_png(plot_curves(metrics, tmp_path / "plots" / "all.png"))  # loss, kl, elbo
    # subplots sit side by side, 4.5 inches (450 pixels at 100 dpi) each
    assert two.shape[:2] == (320, 900)
    assert every.shape[:2] == (320, 1350)


def test_plot_curves_draws_train_and_valid_lines(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    metrics = write_metrics(tmp_path / "metrics.jsonl")
    lines = {}
    original = Figure.savefig

    def spy(self, *args, **kwargs):
        for axis in self.axes:
            lines[axis.get_title()] = {
                line.get_label(): list(line.get_xdata()) for line in axis.get_lines()
            }
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    plot_curves(metrics, tmp_path / "c.png", keys=["loss", "elbo"])
    assert lines == {"loss": {"train": [0, 10, 20, 30, 40]}, "elbo": {"valid": [0, 20, 40]}}


def test_plot_curves_rejects_unknown_keys_and_bad_lines(tmp_path):
    metrics = write_metrics(tmp_path / "metrics.jsonl")
    with pytest.raises(ValueError, match="numeric keys present"):
        plot_curves(metrics, tmp_path / "c.png", keys=["note"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"split": "train", "step": 1, "loss": 2}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        plot_curves(bad, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_a_failed_encode_leaves_the_old_png_and_no_temporary_file(tmp_path, monkeypatch):
    import matplotlib.image

    path = save_grid(images(5), tmp_path / "g.png", nrow=3)
    before = path.read_bytes()

    def half_a_png(name, *args, **kwargs):
        with open(name, "wb") as fh:
            fh.write(PNG_MAGIC)  # then the encoder dies
        raise RuntimeError("encoder failed")

    monkeypatch.setattr(matplotlib.image, "imsave", half_a_png)
    with pytest.raises(RuntimeError, match="encoder failed"):
        save_grid(images(7, seed=1), path, nrow=3)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]
