from django.urls import path

from checkout import api

urlpatterns = [
    path("checkouts/", api.CheckoutCollection.as_view(), name="api-checkouts"),
    path("checkouts/<uuid:checkout_id>/", api.CheckoutDetail.as_view(), name="api-checkout"),
    path("checkouts/<uuid:checkout_id>/refunds/", api.CheckoutRefunds.as_view(), name="api-checkout-refunds"),
    path("checkouts/<uuid:checkout_id>/buy-now/", api.BuyNow.as_view(), name="api-buy-now"),
    path("events/", api.StorefrontEvents.as_view(), name="api-events"),
]
