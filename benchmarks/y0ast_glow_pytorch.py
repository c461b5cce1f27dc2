"""The PyTorch Glow the README's benchmark compares against (not part of glow_prior).

y0ast/Glow-PyTorch (github.com/y0ast/Glow-PyTorch, model.py unchanged) at bin/benchmark's
architecture: 32x32x3, L=3, K=8, hidden width 128, affine coupling, invertible 1x1
convolution (no LU), no learned top prior, batch 32, float32, 2 threads. `train`: Adamax
step on bits/dim (forward, backward, update); `eval`: forward under no_grad. Median of 30
steps after 3 warm-up steps (which include torch.compile's compilation), as bin/benchmark
times its steps. One JSON line: images/s and the process's peak RSS.

    pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu  # own venv
    git clone https://github.com/y0ast/Glow-PyTorch
    python y0ast_glow_pytorch.py PATH/TO/Glow-PyTorch train|eval eager|compile
"""
import json
import resource
import statistics
import sys
import time

sys.path.insert(0, sys.argv[1])
import torch  # noqa: E402
from model import Glow  # noqa: E402  (y0ast/Glow-PyTorch's model.py)

MODE, COMPILED = sys.argv[2], sys.argv[3] == "compile"
torch.set_num_threads(2)
torch.manual_seed(0)
model = Glow((32, 32, 3), 128, 8, 3, 1.0, "invconv", "affine", False, 10, False, False)
x = torch.rand(32, 3, 32, 32) - 0.5
with torch.no_grad():
    model(x)  # actnorm's data-dependent init
optimizer = torch.optim.Adamax(model.parameters(), lr=1e-3)
forward = torch.compile(model) if COMPILED else model


def train():
    optimizer.zero_grad(set_to_none=True)
    _, bits_per_dim, _ = forward(x)
    loss = bits_per_dim.mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def evaluate():
    with torch.no_grad():
        _, bits_per_dim, _ = forward(x)
    return bits_per_dim.sum().item()


step = train if MODE == "train" else evaluate
for _ in range(3):
    step()
times = []
for _ in range(30):
    started = time.perf_counter()
    step()
    times.append(time.perf_counter() - started)
print(json.dumps({"model": "y0ast/Glow-PyTorch", "mode": MODE, "compile": COMPILED,
                  "torch": torch.__version__, "images_per_s": 32 / statistics.median(times),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
