"""Philox-4x32-10 (Salmon et al., SC'11) in numpy, written from the paper for the tests: the
counter-based generator behind ember's random fills, checked here against the published
known-answer vector before it checks the kernel."""

import numpy as np

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
LOW32 = np.uint64(0xFFFFFFFF)


def philox4x32(counters, key):
    """The four 32-bit words for each 128-bit counter (c0, c1, c2, c3) under a 64-bit key."""
    c = [np.asarray(w, np.uint64) & LOW32 for w in counters]
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)
    for _ in range(10):
        p0, p1 = M0 * c[0], M1 * c[2]  # 32 x 32 -> 64-bit products, exact in uint64
        c = [
            (p1 >> np.uint64(32)) ^ c[1] ^ k0,
            p1 & LOW32,
            (p0 >> np.uint64(32)) ^ c[3] ^ k1,
            p0 & LOW32,
        ]
        k0, k1 = (k0 + W0) & LOW32, (k1 + W1) & LOW32
    return c


def words(seed, offset, n):
    """ember draws element i from the counter (offset + i) in the low 64 bits, key = seed."""
    counter = np.uint64(offset) + np.arange(n, dtype=np.uint64)
    zero = np.zeros(n, np.uint64)
    return philox4x32((counter & LOW32, counter >> np.uint64(32), zero, zero), seed)


def unit(hi, lo):
    """53 random bits from two words -> a float64 in [0, 1)."""
    bits = ((hi << np.uint64(21)) ^ (lo >> np.uint64(11))) & np.uint64((1 << 53) - 1)
    return bits.astype(np.float64) * 2.0**-53


def uniform(seed, offset, n, low, high):
    w = words(seed, offset, n)
    return low + (high - low) * unit(w[0], w[1])


def normal(seed, offset, n, mean, std):
    """Box-Muller on the two halves of each draw."""
    w = words(seed, offset, n)
    u1 = 1.0 - unit(w[0], w[1])  # (0, 1]: the log stays finite
    u2 = unit(w[2], w[3])
    return mean + std * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def integers(seed, offset, n, low, high):
    """low + (64 random bits mod (high - low))."""
    w = words(seed, offset, n)
    bits = (w[0] << np.uint64(32)) | w[1]
    return np.int64(low) + (bits % np.uint64(high - low)).astype(np.int64)
