from gateway.pipeline.sentences import SentenceSplitter


def test_sentences_come_out_as_soon_as_they_end():
    splitter = SentenceSplitter()
    assert splitter.feed("Hello there, friend. How ") == ["Hello there, friend."]
    assert splitter.feed("are you today? I am") == ["How are you today?"]
    assert splitter.flush() == ["I am"]
    assert splitter.flush() == []


def test_a_tiny_fragment_waits_for_more_text():
    splitter = SentenceSplitter(min_chars=12)
    assert splitter.feed("Hi. ") == []
    assert splitter.feed("Nice to meet you. ") == ["Hi. Nice to meet you."]


def test_a_run_on_sentence_is_cut_at_a_comma_before_the_limit():
    splitter = SentenceSplitter(max_chars=60)
    text = "one two three four, five six seven eight nine ten eleven twelve thirteen fourteen"
    out = splitter.feed(text) + splitter.flush()
    assert out[0] == "one two three four,"
    assert " ".join(out) == text
    assert all(len(s) <= 60 for s in out)
