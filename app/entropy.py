"""How guessable a secret is: a zxcvbn-style estimate in bits, for the production checks.

Length alone lets `"a" * 32` or `"password" * 4` through. The estimate is the cheapest way
to spell the secret out of pieces an attacker tries first, each at its cost in bits: a
common password (app/data), a repeat of something earlier in the secret, an ascending or
descending run (`abcdef`, `987654`), or else one character drawn from the character
classes the secret uses. Random hex or base64 of 32 bytes scores well over 200 bits; a
word padded or repeated out to length scores under 40.
"""

import math

from app.passwords import common_passwords

MIN_PIECE = 3  # shorter repeats and runs cost no less than their characters
MIN_WORD = 4  # the shortest entries of the list
LONGEST_WORD = 20  # the longest entry of the list worth looking for (a few are longer)
ANALYSED = 256  # characters looked at: enough to show 128 bits, bounded work at start-up
# Sizes of the character classes an attacker would cycle through.
CLASSES = (
    (str.islower, 26),
    (str.isupper, 26),
    (str.isdigit, 10),
)
OTHER_ASCII = 33  # punctuation and space
NON_ASCII = 100


def _pool(secret: str) -> int:
    """How many characters each position could hold, judging by the classes used."""
    size = 0
    remaining = set(secret)
    for belongs, count in CLASSES:
        members = {char for char in remaining if char.isascii() and belongs(char)}
        if members:
            size += count
            remaining -= members
    if any(char.isascii() for char in remaining):
        size += OTHER_ASCII
    if any(not char.isascii() for char in remaining):
        size += NON_ASCII
    return size


def _repeat_lengths(secret: str) -> list[int]:
    """For each position, the length of the longest piece there that already began
    earlier (overlap allowed, so a run of one character repeats its first)."""
    longest = [0] * len(secret)
    # following[j]: how far secret[j:] and secret[i + 1:] agree, for the row after i.
    following = [0] * (len(secret) + 1)
    for i in range(len(secret) - 1, -1, -1):
        current = [0] * (len(secret) + 1)
        for j in range(i):
            if secret[j] == secret[i]:
                current[j] = following[j + 1] + 1
        longest[i] = max(current[:i], default=0)
        following = current
    return longest


def _run_length(secret: str, start: int) -> int:
    """Length of the ascending or descending run of code points at `start`."""
    if start + 1 >= len(secret):
        return 1
    step = ord(secret[start + 1]) - ord(secret[start])
    if step not in (1, -1):
        return 1
    length = 2
    while (
        start + length < len(secret)
        and ord(secret[start + length]) - ord(secret[start + length - 1]) == step
    ):
        length += 1
    return length


def estimate_bits(secret: str) -> float:
    """Bits of guessing work `secret` is worth, at most: lower is weaker."""
    secret = secret[:ANALYSED]
    words = common_passwords()
    char_bits = math.log2(max(_pool(secret), 2))
    word_bits = math.log2(len(words))
    # Case-folded like the list, unless folding changes the length (ß becomes ss).
    folded = secret.casefold() if len(secret.casefold()) == len(secret) else secret
    repeats = _repeat_lengths(secret)
    # cost[i]: the cheapest spelling of secret[:i]; each step extends one spelling.
    cost = [0.0] + [math.inf] * len(secret)
    for start in range(len(secret)):
        here = cost[start]
        steps = [(1, char_bits)]
        for length in range(MIN_WORD, min(LONGEST_WORD, len(secret) - start) + 1):
            if folded[start : start + length] in words:
                steps.append((length, word_bits))
        repeat = repeats[start]
        if repeat >= MIN_PIECE:
            steps.append((repeat, math.log2(start + 1) + math.log2(repeat)))
        run = _run_length(secret, start)
        if run >= MIN_PIECE:
            steps.append((run, char_bits + math.log2(run) + 1))
        for length, bits in steps:
            cost[start + length] = min(cost[start + length], here + bits)
    return cost[-1]
