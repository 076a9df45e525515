"""Word error rate, after a normalisation that forgives spelling, not hearing.

Recognisers write "10" for "ten", "star" for "*", "I'm" for "I am"; a
reference transcript may do the opposite. Both sides go through the same
normalisation, so only words heard wrong, dropped or invented count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SYMBOLS = {"*": " star ", "#": " pound ", "&": " and ", "%": " percent ", "@": " at "}
_CONTRACTIONS = {
    "i'm": "i am",
    "you're": "you are",
    "we're": "we are",
    "they're": "they are",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "what's": "what is",
    "let's": "let us",
    "i'll": "i will",
    "you'll": "you will",
    "we'll": "we will",
    "i've": "i have",
    "you've": "you have",
    "we've": "we have",
    "i'd": "i would",
    "you'd": "you would",
    "can't": "can not",
    "cannot": "can not",
    "won't": "will not",
    "don't": "do not",
    "doesn't": "does not",
    "didn't": "did not",
    "isn't": "is not",
    "aren't": "are not",
    "wasn't": "was not",
    "couldn't": "could not",
    "ok": "okay",
}


def number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    if n < 1_000_000:
        thousands, rest = divmod(n, 1000)
        head = number_words(thousands) + " thousand"
        return head + ("" if rest == 0 else " " + number_words(rest))
    return " ".join(_ONES[int(d)] for d in str(n))


def normalize(text: str) -> list[str]:
    text = text.lower().replace("’", "'")
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"\d+", lambda m: " " + number_words(int(m.group())) + " ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    words: list[str] = []
    for word in text.split():
        word = word.strip("'")
        if word:
            words.extend(_CONTRACTIONS.get(word, word).split())
    return words


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        diagonal, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref != hyp))
    return row[-1]


@dataclass
class WordErrors:
    errors: int = 0
    words: int = 0

    def add(self, reference: str, hypothesis: str) -> int:
        ref, hyp = normalize(reference), normalize(hypothesis)
        errors = edit_distance(ref, hyp)
        self.errors += errors
        self.words += len(ref)
        return errors

    @property
    def rate(self) -> float:
        return self.errors / self.words if self.words else 0.0


def word_error_rate(reference: str, hypothesis: str) -> float:
    errors = WordErrors()
    errors.add(reference, hypothesis)
    return errors.rate
