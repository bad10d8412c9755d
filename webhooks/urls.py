from django.urls import path

from webhooks import views

urlpatterns = [
    path("psp/", views.receive, name="psp-webhook"),
    path("stripe/", views.receive_stripe, name="stripe-webhook"),
]
