"""A numpy DQN with ufh's settings: the baseline that ufh's DQN is timed against.

    pip install -r ufh-bench/reference/requirements.txt
    python3 ufh-bench/reference/dqn_numpy.py update --hidden 32,32      # one update, µs
    python3 ufh-bench/reference/dqn_numpy.py update --hidden 256,256
    python3 ufh-bench/reference/dqn_numpy.py train --hidden 256,256 --lr 1e-4 --episodes 400

`update` times one DQN gradient step as ufh's criterion group `autorl_dqn_update`
does: a batch of 32 CartPole-shaped transitions (4 observations, 2 actions)
drawn from a replay of 10,000, the online network on s_prev, the target network
on s, the TD target r + γ·max_a Q_target(s, a) (γ = 0 at terminal transitions),
half the squared error, the backward pass and an Adam step (β 0.9/0.999,
ε 1e-7), all float32. It prints the median over 7 rounds of 2,000 updates.

`train` runs a whole DQN training on gymnasium's CartPole-v0 with
`DqnConfig`'s loop (ε from 1.0 to 0.02 over 1,000 steps, learning after 1,000
transitions, batch 32, target copied every 100 steps, replay 100,000) and prints
its wall time, environment steps and score (the mean normalised return of the
last 50 episodes).

numpy is held to one thread (OPENBLAS_NUM_THREADS and friends are set before it
is imported), as ufh's DQN runs on one core.
"""

import argparse
import os
import time

for var in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"]:
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402


class Mlp:
    """ReLU MLP, Sonnet's initialisation (truncated normal, σ = 1/√fan_in)."""

    def __init__(self, sizes, rng):
        self.w, self.b = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            sigma = 1.0 / np.sqrt(fan_in)
            z = rng.standard_normal((fan_in, fan_out))
            while np.any(np.abs(z) > 2):
                bad = np.abs(z) > 2
                z[bad] = rng.standard_normal(bad.sum())
            self.w.append((sigma * z).astype(np.float32))
            self.b.append(np.zeros(fan_out, dtype=np.float32))

    def forward(self, x):
        acts = [x]
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            x = x @ w + b
            if i + 1 < len(self.w):
                x = np.maximum(x, 0)
            acts.append(x)
        return acts

    def copy(self):
        other = Mlp.__new__(Mlp)
        other.w = [w.copy() for w in self.w]
        other.b = [b.copy() for b in self.b]
        return other


class Adam:
    def __init__(self, net, lr):
        self.lr, self.t = np.float32(lr), 0
        self.m = [np.zeros_like(p) for p in net.w + net.b]
        self.v = [np.zeros_like(p) for p in net.w + net.b]

    def step(self, params, grads):
        self.t += 1
        c1 = np.float32(1 - 0.9**self.t)
        c2 = np.float32(1 - 0.999**self.t)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + np.float32(1e-7))


def update(online, target, adam, s, a, r, s2, done, gamma):
    b = len(a)
    acts = online.forward(s)
    q = acts[-1]
    q_next = target.forward(s2)[-1]
    y = r + gamma * (1.0 - done) * q_next.max(axis=1)
    delta = q[np.arange(b), a] - y
    grad = np.zeros_like(q)
    grad[np.arange(b), a] = delta / b
    gw, gb = [None] * len(online.w), [None] * len(online.w)
    for i in reversed(range(len(online.w))):
        gw[i] = acts[i].T @ grad
        gb[i] = grad.sum(axis=0)
        if i > 0:
            grad = (grad @ online.w[i].T) * (acts[i] > 0)
    adam.step(online.w + online.b, gw + gb)
    return 0.5 * float(np.mean(delta * delta))


def time_updates(hidden, lr, rounds=7, per_round=2000):
    rng = np.random.default_rng(0)
    online = Mlp([4, *hidden, 2], rng)
    target = online.copy()
    adam = Adam(online, lr)
    n = 10_000
    s = rng.uniform(-1, 1, (n, 4)).astype(np.float32)
    s2 = rng.uniform(-1, 1, (n, 4)).astype(np.float32)
    a = rng.integers(0, 2, n)
    r = np.ones(n, dtype=np.float32)
    done = (rng.random(n) < 0.05).astype(np.float32)
    gamma = np.float32(0.99)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            i = rng.integers(0, n, 32)
            update(online, target, adam, s[i], a[i], r[i], s2[i], done[i], gamma)
        times.append((time.perf_counter() - start) / per_round)
    return float(np.median(times))


def train(hidden, lr, episodes, seed):
    import gymnasium as gym

    rng = np.random.default_rng(seed)
    env = gym.make("CartPole-v0")
    online = Mlp([4, *hidden, 2], rng)
    target = online.copy()
    adam = Adam(online, lr)
    cap = 100_000
    s_buf = np.zeros((cap, 4), np.float32)
    s2_buf = np.zeros((cap, 4), np.float32)
    a_buf = np.zeros(cap, np.int64)
    r_buf = np.zeros(cap, np.float32)
    d_buf = np.zeros(cap, np.float32)
    size = at = steps = 0
    returns = []
    gamma = np.float32(0.99)
    start = time.perf_counter()
    for _ in range(episodes):
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        total = 0.0
        while True:
            eps = max(0.02, 1.0 - (1.0 - 0.02) * steps / 1000)
            if rng.random() < eps:
                action = int(rng.integers(2))
            else:
                action = int(np.argmax(online.forward(obs[None, :])[-1][0]))
            obs2, reward, terminated, truncated, _ = env.step(action)
            total += reward
            steps += 1
            s_buf[at], s2_buf[at], a_buf[at] = obs, obs2, action
            r_buf[at], d_buf[at] = reward, float(terminated)
            at, size = (at + 1) % cap, min(size + 1, cap)
            obs = obs2
            if size >= 1000:
                i = rng.integers(0, size, 32)
                update(online, target, adam, s_buf[i], a_buf[i], r_buf[i], s2_buf[i], d_buf[i], gamma)
            if steps % 100 == 0:
                target = online.copy()
            if terminated or truncated:
                break
        returns.append(total)
    seconds = time.perf_counter() - start
    tail = np.clip(returns[-50:], 0, 200) / 200
    return seconds, steps, float(np.mean(tail))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["update", "train"])
    parser.add_argument("--hidden", default="32,32")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--episodes", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    hidden = [int(h) for h in args.hidden.split(",")]
    if args.mode == "update":
        per = time_updates(hidden, args.lr)
        print(f"numpy {np.__version__} DQN update, hidden {hidden}: {per * 1e6:.1f} us")
    else:
        seconds, steps, score = train(hidden, args.lr, args.episodes, args.seed)
        print(
            f"numpy {np.__version__} DQN training, hidden {hidden}, lr {args.lr}, "
            f"{args.episodes} episodes: {seconds:.2f} s, {steps} steps, "
            f"{seconds / steps * 1e6:.1f} us per step, score {score:.3f}"
        )


if __name__ == "__main__":
    main()
