"""The waiting rooms' metrics, read from Redis when /metrics is scraped (one pipelined
round trip for all enabled rooms), so every node reports the same shared numbers:

  playcation_waiting_room_length{room}            visitors in line now
  playcation_waiting_room_admissions_total{room}  visitors let in since the room started
  playcation_waiting_room_abandoned_total{room}   admitted visitors who never came in
                                                  within the session duration
"""
import logging

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import state
from .rooms import active

log = logging.getLogger(__name__)


class WaitingRoomCollector:
    """For `app`, or the app serving the scrape when None."""

    def __init__(self, app=None):
        self.app = app

    def collect(self):
        from flask import current_app

        from .services import room_redis

        try:
            self.app = self.app or current_app._get_current_object()
            rooms = active(self.app)
            if not rooms:
                return
            with self.app.app_context():
                client = room_redis().client
            with client.pipeline(transaction=False) as pipe:
                for room in rooms:
                    pipe.zcard(state.keys(room.id)["queue"])
                    pipe.hmget(state.keys(room.id)["state"], "admitted", "abandoned")
                replies = pipe.execute()
        except Exception:  # Redis down: the scrape still answers, without these
            log.warning("metrics: waiting rooms unreadable", exc_info=True)
            return
        length = GaugeMetricFamily("playcation_waiting_room_length", "Visitors in a waiting room's line.",
                                   labels=("room",))
        admitted = CounterMetricFamily("playcation_waiting_room_admissions", "Visitors a waiting room let in.",
                                       labels=("room",))
        abandoned = CounterMetricFamily("playcation_waiting_room_abandoned",
                                        "Visitors admitted who did not come in within the session duration.",
                                        labels=("room",))
        for i, room in enumerate(rooms):
            waiting, (let_in, gone) = replies[2 * i], replies[2 * i + 1]
            length.add_metric([str(room.id)], waiting)
            admitted.add_metric([str(room.id)], int(let_in or 0))
            abandoned.add_metric([str(room.id)], int(gone or 0))
        yield length
        yield admitted
        yield abandoned


def init_app(app):
    from ..infra.metrics import register_collector

    # Built at each scrape, for the app serving it (/metrics runs in a request).
    register_collector("waiting_rooms", lambda connection: WaitingRoomCollector())
