from django.urls import path

from checkout import demo_receiver, pages

urlpatterns = [
    path("", pages.storefront, name="storefront"),
    path("checkout/<uuid:checkout_id>/", pages.purchase, name="checkout-purchase"),
    path("checkout/<uuid:checkout_id>/buy-now/", pages.buy_now, name="checkout-buy-now"),
    path("checkout/<uuid:checkout_id>/return/", pages.psp_return, name="checkout-return"),
    path("checkout/<uuid:checkout_id>/result/", pages.result, name="checkout-result"),
    path("demo/notifications/", demo_receiver.demo_notifications, name="demo-notifications"),
]
