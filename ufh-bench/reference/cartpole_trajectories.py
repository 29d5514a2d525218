"""gymnasium's CartPole trajectories that ufh's CartPole must reproduce bit for bit.

    pip install -r ufh-bench/reference/requirements.txt
    python3 ufh-bench/reference/cartpole_trajectories.py > ufh-spaces/data/autorl/cartpole-gymnasium.tsv

For each registered version (CartPole-v0, 200 steps; CartPole-v1, 500 steps) it
runs 200 episodes through `gymnasium.make`, so the TimeLimit wrapper sets
`truncated` as users see it. Episode k resets with seed k and acts by a policy that
mixes a balancing rule with random actions (numpy seed 10,000 + k), so that
episodes end early by falling, late, and at the step limit.

One line per episode, tab-separated:
  version, seed, the initial state (four f64 bit patterns in hex),
  the actions (a string of 0 and 1), the step count, terminated and truncated of
  the last step (0/1), the final state (four f64 bit patterns in hex), and the
  FNV-1a 64 of every step's bytes: the state's four f64 then the observation's
  four f32, little-endian, then the reward as an f64.
`--dump VERSION SEED` prints one episode's states step by step instead, for
finding where a replay departs.
"""

import struct
import sys

import gymnasium as gym
import numpy as np

EPISODES = 200
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a(h, data):
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def hex_bits(values):
    return " ".join(struct.pack("<d", float(v))[::-1].hex() for v in values)


def episode(version, seed, dump=False):
    env = gym.make(f"CartPole-{version}")
    env.reset(seed=seed)
    start = np.array(env.unwrapped.state, dtype=np.float64)
    rng = np.random.default_rng(10_000 + seed)
    # How often the policy acts at random: from nearly always to never.
    epsilon = [0.9, 0.3, 0.1, 0.02, 0.0][seed % 5]
    state = start
    actions, h, steps = [], FNV_OFFSET, 0
    while True:
        if rng.random() < epsilon:
            action = int(rng.integers(2))
        else:
            action = int(state[2] + 0.5 * state[3] + 0.01 * state[1] > 0)
        obs, reward, terminated, truncated, _ = env.step(action)
        state = np.array(env.unwrapped.state, dtype=np.float64)
        actions.append(str(action))
        steps += 1
        h = fnv1a(h, struct.pack("<4d", *state))
        h = fnv1a(h, np.asarray(obs, dtype="<f4").tobytes())
        h = fnv1a(h, struct.pack("<d", float(reward)))
        if dump:
            print(steps, action, hex_bits(state), reward, terminated, truncated)
        if terminated or truncated:
            break
    return "\t".join(
        [
            version,
            str(seed),
            hex_bits(start),
            "".join(actions),
            str(steps),
            str(int(terminated)),
            str(int(truncated)),
            hex_bits(state),
            f"{h:016x}",
        ]
    )


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--dump":
        episode(sys.argv[2], int(sys.argv[3]), dump=True)
        return
    print(f"# gymnasium {gym.__version__}, numpy {np.__version__}: see cartpole_trajectories.py")
    for version in ["v0", "v1"]:
        for seed in range(EPISODES):
            print(episode(version, seed))


if __name__ == "__main__":
    main()
