from gateway.flow.jitter import AudioJitterBuffer


def seqs(released):
    return [r.sequence for r in released]


def test_in_order_frames_leave_at_once_with_no_hold():
    jb = AudioJitterBuffer()
    for s in range(100, 110):
        assert seqs(jb.add(s, b"x")) == [s]
    assert jb.held == 0 and jb.lost == 0


def test_a_lost_frame_costs_one_frame_of_waiting_then_latency_returns_to_zero():
    jb = AudioJitterBuffer()
    assert seqs(jb.add(1, b"")) == [1]
    assert seqs(jb.add(3, b"")) == []  # 2 is missing: wait one frame for it
    assert seqs(jb.add(4, b"")) == [3, 4]  # give up on 2, release everything held
    assert jb.lost == 1
    for s in range(5, 20):
        assert seqs(jb.add(s, b"")) == [s]  # back to no hold at all
    assert jb.held == 0


def test_a_reordered_frame_is_put_back_in_order():
    jb = AudioJitterBuffer()
    jb.add(1, b"")
    assert seqs(jb.add(3, b"")) == []
    assert seqs(jb.add(2, b"")) == [2, 3]
    assert jb.lost == 0


def test_late_arrivals_deepen_the_wait_and_calm_restores_it():
    jb = AudioJitterBuffer(calm_packets=20)
    jb.add(1, b"")
    jb.add(3, b"")
    jb.add(4, b"")  # gives up on 2
    assert seqs(jb.add(2, b"")) == []  # too late: dropped, but it teaches the buffer
    assert jb.wait == 2 and jb.late == 1
    for s in range(5, 30):
        jb.add(s, b"")
    assert jb.wait == 1


def test_sequence_numbers_wrap():
    jb = AudioJitterBuffer()
    assert seqs(jb.add(65534, b"")) == [65534]
    assert seqs(jb.add(65535, b"")) == [65535]
    assert seqs(jb.add(0, b"")) == [0]
    assert seqs(jb.add(2, b"")) == []
    assert seqs(jb.add(1, b"")) == [1, 2]


def test_duplicates_are_dropped():
    jb = AudioJitterBuffer()
    jb.add(5, b"")
    jb.add(7, b"")
    assert jb.add(7, b"") == [] and jb.duplicates == 1
