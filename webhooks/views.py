from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def receive(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"error": {"code": "not_implemented", "message": "", "fields": {}}}, status=503)
