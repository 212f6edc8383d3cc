// Start Swagger UI on the API's own openapi.json (no inline script, no CDN).
//
// The bearer token entered under "Authorize" is kept in sessionStorage (this tab, gone when
// it closes), as the workspace does. Swagger UI's own persistAuthorization would write it to
// localStorage, which every page of this origin (/app/ included) can read for ever: it stays
// off, and the plugin below saves and restores the authorization itself.
(function () {
  var KEY = "recall-docs-authorized";

  function save(system) {
    try {
      var authorized = system.authSelectors.authorized();
      if (authorized && authorized.size) {
        window.sessionStorage.setItem(KEY, JSON.stringify(authorized.toJS()));
      } else {
        window.sessionStorage.removeItem(KEY);
      }
    } catch (e) { /* storage disabled: nothing is kept */ }
  }

  function afterwards(name) {
    return function (oriAction, system) {
      return function () {
        var result = oriAction.apply(null, arguments);
        save(system);
        return result;
      };
    };
  }

  var SessionAuthorization = function () {
    return {statePlugins: {auth: {wrapActions: {authorize: afterwards("authorize"), logout: afterwards("logout")}}}};
  };

  window.addEventListener("load", function () {
    try {
      window.localStorage.removeItem("authorized");    // left there by an earlier version of this page
    } catch (e) { /* storage disabled */ }
    var root = document.getElementById("swagger-ui");
    window.ui = SwaggerUIBundle({
      url: root.getAttribute("data-spec-url"),
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: false,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      plugins: [SessionAuthorization],
      layout: "StandaloneLayout",
      onComplete: function () {
        var kept = null;
        try {
          kept = window.sessionStorage.getItem(KEY);
        } catch (e) { /* storage disabled */ }
        if (kept) {
          window.ui.authActions.restoreAuthorization({authorized: JSON.parse(kept)});
        }
      }
    });
  });
})();
