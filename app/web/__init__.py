"""What every web surface shares: messages, serializers, template filters and helpers."""
