"""How fast simulated time runs: the pauses and delays of a simulated call and of REST.

Shared by every call of one ``Simulator`` (``sim.timing``); the parts of a call read it
each time they wait, so a change applies to calls in progress.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Timing"]


@dataclass
class Timing:
    """How fast simulated time runs. The defaults make everything immediate (tests); the
    demo slows speech down to something a person can follow.

    ``delta_interval_s``: pause between streamed deltas. ``playback_per_char_s`` /
    ``min_playback_s``: how long the caller takes to hear a response after its
    ``response.done`` (``output_audio_buffer.stopped`` comes then). ``refer_end_s``:
    how long after a successful refer the call leaves OpenAI. ``hangup_drop_s``: how
    long after ``hangup``'s 200 the socket drops. ``nudge_latency_s``: how long the
    server's own idle-timeout response takes, after its ``response.created``, to start
    producing output; a real model takes hundreds of milliseconds to its first audio, so
    a client that cancels the nudge on ``response.created`` stops it before it speaks
    (cancelling ends the wait at once). ``nudge_delay_s``: how long after
    ``input_audio_buffer.timeout_triggered`` the nudge's ``response.created`` comes (the
    real server does not promise it comes at once; a client must not assume it does).
    ``rest_latency_s`` +
    ``rest_latency_per_inflight_s`` × (REST requests in flight, this one included): how
    long a REST request waits before it is handled, so latency grows under a burst as a
    loaded API's does; the action takes effect after the wait, so a client that gave up
    meanwhile meets its effect on a retry. ``response_done_delay_s``: how long
    ``response.done`` comes after the last function call item of a response (the model
    speaking on after it called a tool; the shared load instrument's
    ``response_done_delay_ms``).
    """

    delta_interval_s: float = 0.0
    playback_per_char_s: float = 0.0
    min_playback_s: float = 0.0
    refer_end_s: float = 0.05
    hangup_drop_s: float = 0.0
    nudge_latency_s: float = 0.1
    nudge_delay_s: float = 0.0
    rest_latency_s: float = 0.0
    rest_latency_per_inflight_s: float = 0.0
    response_done_delay_s: float = 0.0

    def playback_s(self, chars: int) -> float:
        return max(self.min_playback_s, chars * self.playback_per_char_s)
