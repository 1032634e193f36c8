// Starts GraphiQL against this gateway: queries and mutations over HTTP POST, subscriptions over
// graphql-transport-ws on the same path. The Authorization header typed in GraphiQL's header editor is
// sent on HTTP requests as is, and as the WebSocket connection_init payload {"authorization": "..."}.
(function () {
  "use strict";
  var httpUrl = window.location.origin + window.location.pathname;
  var wsUrl = httpUrl.replace(/^http/, "ws");
  var currentAuth = null;
  var wsClient = null;
  var fetcher = null;

  function authorizationOf(headers) {
    if (!headers) return null;
    for (var key in headers) {
      if (key.toLowerCase() === "authorization") return headers[key];
    }
    return null;
  }

  function fetcherFor(auth) {
    if (fetcher && auth === currentAuth) return fetcher;
    if (wsClient) wsClient.dispose();
    currentAuth = auth;
    wsClient = graphqlWs.createClient({
      url: wsUrl,
      lazy: true,
      connectionParams: function () {
        return currentAuth ? { authorization: currentAuth } : {};
      },
    });
    fetcher = GraphiQL.createFetcher({ url: httpUrl, wsClient: wsClient });
    return fetcher;
  }

  function geko(params, options) {
    return fetcherFor(authorizationOf(options && options.headers))(params, options);
  }

  var defaultQuery =
    "# GEKO GraphQL API. Sign in with the login mutation, then put\n" +
    '# {"Authorization": "Bearer <accessToken>"} in the Headers tab.\n\n' +
    "query Me {\n  me { id email name role tenant { id name plan } }\n}\n";

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: geko,
      defaultQuery: defaultQuery,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    })
  );
})();
