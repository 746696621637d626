"""A request the server refuses, with the 4xx status and one line saying what to fix."""


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(" ".join(message.split()))
        self.status = status
        self.message = str(self)
