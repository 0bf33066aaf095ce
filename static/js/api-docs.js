// The API reference page (/api/docs): the vendored Swagger UI over our OpenAPI document.
/* global SwaggerUIBundle */
const root = document.getElementById("api-docs");
if (root && typeof SwaggerUIBundle === "function") {
  SwaggerUIBundle({ url: root.dataset.specUrl, domNode: root, deepLinking: true });
}
