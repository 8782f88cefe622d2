"""PyTorch CPU reference for `cargo bench --bench throughput`: the same networks (DCGAN
generator/discriminator at width 48, latent 128; the VAE encoder) and the same steps
(non-saturating GAN loss with DiffAugment colour/translation/cutout, Adam; VAE ELBO), timed
the same way. Prints one JSON object. Run by the bench when `import torch` works."""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

W, LATENT = 48, 128
torch.manual_seed(0)


def up(cin, cout):
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def down(cin, cout, norm):
    layers = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    return layers + [nn.LeakyReLU(0.2)]


def generator():
    return nn.Sequential(
        nn.ConvTranspose2d(LATENT, 8 * W, 4, 1, 0, bias=False), nn.BatchNorm2d(8 * W), nn.ReLU(),
        *up(8 * W, 4 * W), *up(4 * W, 2 * W), *up(2 * W, W),
        nn.ConvTranspose2d(W, 3, 4, 2, 1), nn.Tanh())


def trunk():
    return [*down(3, W, False), *down(W, 2 * W, True), *down(2 * W, 4 * W, True), *down(4 * W, 8 * W, True)]


def discriminator():
    return nn.Sequential(*trunk(), nn.Conv2d(8 * W, 1, 4))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(*trunk())
        self.head = nn.Linear(8 * W * 16, 2 * LATENT)

    def forward(self, x):
        s = self.head(self.trunk(x).flatten(1))
        return s[:, :LATENT], s[:, LATENT:].clamp(-12, 8)


def diff_augment(x):
    n, c, h, w = x.shape
    x = x + (torch.rand(n, 1, 1, 1) - 0.5)
    m = x.mean(1, keepdim=True)
    x = (x - m) * (torch.rand(n, 1, 1, 1) * 2) + m
    m = x.mean((1, 2, 3), keepdim=True)
    x = (x - m) * (torch.rand(n, 1, 1, 1) + 0.5) + m
    # translation by up to 1/8 and a half-size cutout, as one gather and one mask
    dy = torch.randint(-h // 8, h // 8 + 1, (n, 1, 1))
    dx = torch.randint(-w // 8, w // 8 + 1, (n, 1, 1))
    ys = torch.arange(h).view(1, h, 1) - dy
    xs = torch.arange(w).view(1, 1, w) - dx
    inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    index = (ys.clamp(0, h - 1) * w + xs.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
    cy = torch.randint(0, h, (n, 1, 1)) - h // 4
    cx = torch.randint(0, w, (n, 1, 1)) - w // 4
    cut = (ys + dy >= cy) & (ys + dy < cy + h // 2) & (xs + dx >= cx) & (xs + dx < cx + w // 2)
    mask = (inside & ~cut).float().view(n, 1, h, w)
    return x.reshape(n, c, h * w).gather(2, index).view(n, c, h, w) * mask


def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    g, d, e = generator(), discriminator(), Encoder()
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    dec = generator()
    opt_v = torch.optim.Adam(list(e.parameters()) + list(dec.parameters()), 1e-3)
    real = torch.rand(32, 3, 64, 64) * 2 - 1

    def sample():
        with torch.no_grad():
            g.eval()
            g(torch.randn(64, LATENT, 1, 1))
            g.train()

    def gan_step():
        fake = g(torch.randn(32, LATENT, 1, 1)).detach()
        loss_d = F.softplus(-d(diff_augment(real))).mean() + F.softplus(d(diff_augment(fake))).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        # the discriminator's weights are constants in the generator's update (as in burn's
        # step): no gradients for them
        d.requires_grad_(False)
        loss_g = F.softplus(-d(diff_augment(g(torch.randn(32, LATENT, 1, 1))))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        d.requires_grad_(True)

    def vae_step():
        mean, log_var = e(real)
        z = (mean + (0.5 * log_var).exp() * torch.randn_like(mean)).view(32, LATENT, 1, 1)
        rec = (dec(z) - real).square().sum() / 32
        kl = 0.5 * (log_var.exp() + mean.square() - log_var - 1).sum() / 32
        opt_v.zero_grad()
        (rec + kl).backward()
        opt_v.step()

    t_sample = timed(sample, 2, reps * 2)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "sample_images_per_s_batch64": 64 / t_sample,
        "gan_step_ms_batch32": 1000 * timed(gan_step, 2, reps),
        "vae_step_ms_batch32": 1000 * timed(vae_step, 2, reps),
    }))


if __name__ == "__main__":
    main()
