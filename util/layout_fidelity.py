"""How well synthesised images follow their layouts: per-class mean-colour error against the real photos."""
import torch


def per_class_color_error(fake: torch.Tensor, real: torch.Tensor, label: torch.Tensor) -> float:
    """Mean over (image, class present) of |mean fake colour - mean real colour| in the class region, in [0, 1] units.

    fake, real: (N, 3, H, W) in [-1, 1]; label: (N, 1, H, W) class ids.
    """
    errors = []
    for fake_i, real_i, label_i in zip(fake, real, label[:, 0].long()):
        for cls in label_i.unique():
            mask = label_i == cls
            difference = fake_i[:, mask].mean(1) - real_i[:, mask].mean(1)
            errors.append(difference.abs().mean() / 2)
    return torch.stack(errors).mean().item()


def layout_blind_baseline(real: torch.Tensor) -> torch.Tensor:
    """Each photo replaced by its mean colour: what an image that ignores the layout scores at best."""
    return real.mean(dim=(2, 3), keepdim=True).expand_as(real)
