from workers.tokens import count


def test_counts_like_the_o200k_encoding() -> None:
    assert count("") == 0
    assert count("hello world") == 2


def test_special_tokens_and_huge_text_are_plain_text() -> None:
    assert count("before <|endoftext|> after") > 3
    assert count(" word" * 300_000) == 300_000
