"""The Celery broker when it is apart from the store (``SCHEDULER_BROKER_URL``): another Redis or
RabbitMQ. Publishers then write to the store's outbox (``shared.store.outbox``) and the relay
(``relay``, a thread of each beat) moves the messages to the broker (``publishers``: a Redis
broker's lists, RabbitMQ's quorum queues with publisher confirms). ``queues`` holds the queue
definitions Celery and the relay share, so both declare them alike.
"""
