"""Domain logic, free of request handling: each module raises documented errors
(``kiosk.errors``) that the web layer and the CLI turn into responses and messages."""
