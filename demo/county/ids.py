"""Unique, valid resident ID numbers (GB 11643-1999), drawn a chunk at a time."""

import datetime as dt

import numpy as np

from households.validation import ID_CHECK_CHARACTERS, ID_WEIGHTS

FIRST_DAY = np.datetime64("1900-01-01")
SEQUENCES_PER_SEX = 500  # three-digit sequence, odd for men, even for women


def date_parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of a datetime64[D] array."""
    years = days.astype("datetime64[Y]")
    months = days.astype("datetime64[M]")
    return (
        years.astype(np.int64) + 1970,
        months.astype(np.int64) % 12 + 1,
        (days - months).astype(np.int64) + 1,
    )


def check_characters(first17: np.ndarray) -> np.ndarray:
    """Check characters for an (n, 17) array of digits."""
    total = first17 @ np.asarray(ID_WEIGHTS, dtype=np.int64)
    return np.asarray(list(ID_CHECK_CHARACTERS))[total % 11]


class IdAllocator:
    """Hands out each (birth date, sex, sequence) once, so that no two people, and no fabricated 'unknown'
    ID in a department file, ever share a number."""

    def __init__(self, region: str, *, last_day: dt.date):
        self.region = region
        self.region_digits = np.asarray([int(c) for c in region], dtype=np.int64)
        days = int((np.datetime64(last_day) - FIRST_DAY).astype(np.int64)) + 1
        self.used = np.zeros(days * 2, dtype=np.int32)

    def allocate(self, birth: np.ndarray, sex: np.ndarray) -> np.ndarray:
        """IDs for births (datetime64[D]) and sexes ("1"/"2" strings); returns an array of 18-character
        str."""
        n = len(birth)
        if n == 0:
            return np.asarray([], dtype="<U18")
        day = (birth - FIRST_DAY).astype(np.int64)
        female = (sex == "2").astype(np.int64)
        key = day * 2 + female
        order = np.argsort(key, kind="stable")
        sorted_keys = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        lengths = np.diff(np.r_[starts, n])
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - np.repeat(starts, lengths)
        k = self.used[key] + rank
        if (k >= SEQUENCES_PER_SEX).any():
            raise RuntimeError("同一出生日期、同一性别的证件号码顺序码已用完。")
        np.add.at(self.used, sorted_keys[starts], lengths.astype(np.int32))
        # Scramble the order of issue within a day (37 is prime to 500: a bijection) so numbers look random.
        sequence = ((k * 37 + day * 113) % SEQUENCES_PER_SEX) * 2 + (1 - female)
        year, month, dom = date_parts(birth)
        digits = np.empty((n, 17), dtype=np.int64)
        digits[:, :6] = self.region_digits
        for i, (value, width) in enumerate(((year, 4), (month, 2), (dom, 2), (sequence, 3))):
            offset = 6 + (0, 4, 6, 8)[i]
            for j in range(width):
                digits[:, offset + j] = value // 10 ** (width - 1 - j) % 10
        check = check_characters(digits)
        body = [
            f"{self.region}{y:04d}{m:02d}{d:02d}{s:03d}{c}"
            for y, m, d, s, c in zip(
                year.tolist(), month.tolist(), dom.tolist(), sequence.tolist(), check.tolist(), strict=True
            )
        ]
        return np.asarray(body, dtype="<U18")


def wrong_check_character(number: str, pick: int) -> str:
    """The same number with a check character that is not the right one (pick chooses among the ten wrong
    ones)."""
    wrong = [c for c in ID_CHECK_CHARACTERS if c != number[17]]
    return number[:17] + wrong[pick % len(wrong)]
