"""WebRTC (aiortc): a paced, bounded output track and a low-latency inbound path."""
