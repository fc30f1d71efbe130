"""hello-digits: a one-hidden-layer network in numpy, trained on scikit-learn's digits (8x8 images).

Each site trains on its own half of the training images; every site measures accuracy on the
same held-out images (20 %, never trained on). Metrics per task: ``accuracy`` of the model the
site returns, ``global_accuracy`` of the model it received (the previous round's average),
``loss`` (mean training cross-entropy), and ``samples``; the weight is the site's sample count.
"""

from __future__ import annotations

import zlib

import numpy as np
from sklearn.datasets import load_digits

from console.runtime.contract import TaskContext, TaskResult

NUM_SITES = 2
HELD_OUT = 0.2
EPOCHS = 1
BATCH = 32
LEARNING_RATE = 0.1


def _split(site_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """This site's training images and labels, and the shared held-out ones (same seed everywhere)."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    cut = int(len(x) * HELD_OUT)
    test, train = order[:cut], order[cut:]
    try:
        index = int(site_name.rsplit("-", 1)[-1]) - 1
    except ValueError:
        index = zlib.crc32(site_name.encode())
    mine = train[index % NUM_SITES::NUM_SITES]
    return x[mine], y[mine], x[test], y[test]


def _forward(model: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hidden = np.tanh(x @ model["w1"] + model["b1"])
    logits = hidden @ model["w2"] + model["b2"]
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return hidden, probs / probs.sum(axis=1, keepdims=True)


def accuracy(model: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    return float((_forward(model, x)[1].argmax(axis=1) == y).mean())


def _sgd_epoch(model: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    losses = []
    for batch in np.array_split(rng.permutation(len(x)), max(len(x) // BATCH, 1)):
        xb, yb = x[batch], y[batch]
        hidden, probs = _forward(model, xb)
        losses.append(float(-np.log(probs[np.arange(len(yb)), yb] + 1e-9).mean()))
        grad_logits = probs
        grad_logits[np.arange(len(yb)), yb] -= 1.0
        grad_logits /= len(yb)
        grad_hidden = (grad_logits @ model["w2"].T) * (1.0 - hidden ** 2)
        model["w2"] -= LEARNING_RATE * hidden.T @ grad_logits
        model["b2"] -= LEARNING_RATE * grad_logits.sum(axis=0)
        model["w1"] -= LEARNING_RATE * xb.T @ grad_hidden
        model["b1"] -= LEARNING_RATE * grad_hidden.sum(axis=0)
    return float(np.mean(losses))


def train(model: dict[str, np.ndarray], ctx: TaskContext) -> TaskResult:
    x_train, y_train, x_test, y_test = _split(ctx.site_name)
    received = accuracy(model, x_test, y_test)
    local = {name: array.astype(np.float32, copy=True) for name, array in model.items()}
    rng = np.random.default_rng(ctx.round)
    loss = 0.0
    for _ in range(EPOCHS):
        if ctx.aborted():
            break
        loss = _sgd_epoch(local, x_train, y_train, rng)
    trained = accuracy(local, x_test, y_test)
    ctx.logger.info("round %d/%d: %d images, loss %.4f, held-out accuracy %.4f (received %.4f)", ctx.round,
                    ctx.num_rounds, len(x_train), loss, trained, received)
    return TaskResult(local, weight=float(len(x_train)),
                      metrics={"accuracy": trained, "global_accuracy": received, "loss": loss,
                               "samples": len(x_train)})
