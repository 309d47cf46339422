import torch
from torch import nn

from langtickets.sft.optim import MaskedAdamW, add_l1_grad_


def gradients(step: int, shape) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(step))


def test_without_positions_it_is_torch_adamw_with_clipping_bitwise():
    ours, theirs = nn.Parameter(torch.randn(6, 4)), None
    theirs = nn.Parameter(ours.detach().clone())
    masked = MaskedAdamW([(ours, None)], lr=1e-2, weight_decay=0.1, max_grad_norm=1.0)
    reference = torch.optim.AdamW([theirs], lr=1e-2, weight_decay=0.1)
    for step in range(5):
        ours.grad, theirs.grad = 3 * gradients(step, ours.shape), 3 * gradients(step, ours.shape)
        torch.nn.utils.clip_grad_norm_([theirs], 1.0)
        masked.step()
        reference.step()
    assert torch.equal(ours.detach(), theirs.detach())


def test_masked_entries_follow_adamw_and_the_rest_never_move_despite_weight_decay():
    start = torch.randn(50)
    positions = torch.tensor([1, 7, 8, 30, 49])
    mask = torch.zeros(50, dtype=torch.bool)
    mask[positions] = True
    ours, theirs = nn.Parameter(start.clone()), nn.Parameter(start.clone())
    masked = MaskedAdamW([(ours, positions)], lr=1e-2, weight_decay=0.1)
    reference = torch.optim.AdamW([theirs], lr=1e-2, weight_decay=0.1)  # gradient masking alone
    for step in range(5):
        ours.grad = gradients(step, (50,))
        theirs.grad = gradients(step, (50,)) * mask
        masked.step()
        reference.step()
    assert torch.equal(ours.detach()[mask], theirs.detach()[mask])
    assert torch.equal(ours.detach()[~mask], start[~mask])
    assert not torch.equal(theirs.detach()[~mask], start[~mask])  # AdamW's decay moves unmasked entries
    assert masked.state[ours]["exp_avg"].numel() == positions.numel()  # moments for K entries only


def test_l1_gradient_matches_autograd():
    theta0 = torch.randn(5, 6)
    theta = nn.Parameter(theta0 + torch.randn(5, 6) * (torch.rand(5, 6) > 0.3))  # some entries at theta0
    coefficient = 0.1 / 30
    expected_param = nn.Parameter(theta.detach().clone())
    (coefficient * (expected_param - theta0).abs().sum()).backward()
    theta.grad = torch.zeros_like(theta)
    add_l1_grad_([(theta, theta0, None)], coefficient)
    torch.testing.assert_close(theta.grad, expected_param.grad, rtol=0, atol=0)


def test_l1_gradient_on_selected_positions_matches_autograd_of_the_full_term():
    theta0 = torch.randn(40)
    positions = torch.tensor([2, 3, 17, 39])
    moved = theta0.clone()
    moved[positions] += torch.tensor([0.5, -0.25, 0.0, 1.0])  # outside the mask theta == theta0 (phase 2)
    coefficient = 0.1 / 40
    full = nn.Parameter(moved.clone())
    (coefficient * (full - theta0).abs().sum()).backward()
    sparse = nn.Parameter(moved.clone())
    sparse.grad = torch.zeros(40)
    add_l1_grad_([(sparse, theta0[positions], positions)], coefficient)
    torch.testing.assert_close(sparse.grad, full.grad, rtol=0, atol=0)
