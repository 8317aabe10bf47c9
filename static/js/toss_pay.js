// The Toss Payments window: reads the payment from the JSON block the page renders
// (no inline script, so the Content-Security-Policy needs no 'unsafe-inline').
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("toss-payment").textContent);
  var toss = TossPayments(data.clientKey);

  function pay() {
    toss.requestPayment("카드", {
      amount: data.amount, orderId: data.orderId, orderName: data.orderName,
      customerName: data.customerName, successUrl: data.successUrl, failUrl: data.failUrl
    });
  }

  document.getElementById("retry").addEventListener("click", function (e) { e.preventDefault(); pay(); });
  pay();
})();
