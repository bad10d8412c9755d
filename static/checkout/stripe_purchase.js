// The purchase page in Stripe mode. Mounts Stripe's Payment Element (deferred mode: no
// PaymentIntent secret on the page), turns what the shopper entered into a PaymentMethod inside
// Stripe's frames, and posts only its id with Buy Now; the server confirms the payment.
// Without Stripe.js (no network), or with a copy that has no Payment Element (an emulator's
// fake Stripe.js), the card form stays hidden and says why; the test buttons are plain form
// buttons and never depend on this script.
(function () {
  "use strict";

  var form = document.getElementById("stripe-payment-form");
  if (!form) {
    return;
  }
  var section = document.getElementById("stripe-payment");
  var status = document.getElementById("stripe-status");
  var errorBox = document.getElementById("stripe-error");
  var button = document.getElementById("stripe-buy-now");
  var paymentMethod = document.getElementById("stripe-payment-method");
  var hasTestButtons = document.getElementById("stripe-test-methods") !== null;

  function unavailable(reason) {
    section.hidden = true;
    status.textContent = "Card entry is not available: " + reason +
      (hasTestButtons ? " Use a test payment method below." : " Please try again later.");
    status.hidden = false;
  }

  function showError(message) {
    errorBox.textContent = message || "Your payment details could not be checked. Please try again.";
    errorBox.hidden = false;
    button.disabled = false;
  }

  function pay(stripe, elements) {
    button.disabled = true;
    errorBox.hidden = true;
    // submit() validates the fields (and collects wallet data) before a PaymentMethod is made.
    elements.submit().then(function (submitted) {
      if (submitted.error) {
        throw submitted.error;
      }
      return stripe.createPaymentMethod({ elements: elements });
    }).then(function (created) {
      if (created.error) {
        throw created.error;
      }
      paymentMethod.value = created.paymentMethod.id;
      paymentMethod.disabled = false;
      form.submit();  // a plain POST: the server answers with the result or 3-D Secure page
    }).catch(function (error) {
      showError(error && error.message);
    });
  }

  function start() {
    if (typeof window.Stripe !== "function") {
      unavailable("Stripe.js did not load.");
      return;
    }
    var stripe = window.Stripe(form.dataset.publishableKey);
    var elements = stripe.elements({
      mode: "payment",
      amount: Number(form.dataset.amount),
      currency: form.dataset.currency,
      paymentMethodCreation: "manual",
    });
    if (!elements || typeof elements.submit !== "function" || typeof stripe.createPaymentMethod !== "function") {
      unavailable("this Stripe.js has no Payment Element.");
      return;
    }
    elements.create("payment").mount("#payment-element");
    section.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      pay(stripe, elements);
    });
  }

  try {
    start();
  } catch (error) {
    unavailable("Stripe.js failed to start.");
  }
})();
