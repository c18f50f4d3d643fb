//! The route table: method + path template + operation, in one place.
//!
//! The same table is what the template's API events must declare, and what
//! the local API emulator serves.

use http::Method;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PlaceOrder,
    GetOrder,
    ListCustomerOrders,
    CancelOrder,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    /// A path template: literal segments and `{name}` parameters.
    pub path: &'static str,
    pub operation: Operation,
}

/// Every route the API serves.
pub const ROUTES: [Route; 4] = [
    Route {
        method: Method::POST,
        path: "/orders",
        operation: Operation::PlaceOrder,
    },
    Route {
        method: Method::GET,
        path: "/orders/{orderId}",
        operation: Operation::GetOrder,
    },
    Route {
        method: Method::GET,
        path: "/customers/{customerId}/orders",
        operation: Operation::ListCustomerOrders,
    },
    Route {
        method: Method::POST,
        path: "/orders/{orderId}/cancel",
        operation: Operation::CancelOrder,
    },
];

/// The outcome of matching a request against the table.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RouteMatch {
    Found {
        operation: Operation,
        /// (name, percent-decoded value) for each `{name}` in the template.
        params: Vec<(&'static str, String)>,
    },
    /// The path exists, but not for this method.
    MethodNotAllowed {
        allowed: Vec<Method>,
    },
    NotFound,
}

/// Matches a path against one template; `None` when it does not fit.
/// A parameter matches exactly one non-empty segment.
pub(crate) fn match_template(
    template: &'static str,
    path: &str,
) -> Option<Vec<(&'static str, String)>> {
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    let mut params = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if g.is_empty() {
                        return None;
                    }
                    let value = percent_encoding::percent_decode_str(g)
                        .decode_utf8()
                        .ok()?
                        .into_owned();
                    params.push((name, value));
                } else if w != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

pub(crate) fn route(method: &Method, path: &str) -> RouteMatch {
    let mut allowed = Vec::new();
    for route in &ROUTES {
        if let Some(params) = match_template(route.path, path) {
            if route.method == method {
                return RouteMatch::Found {
                    operation: route.operation,
                    params,
                };
            }
            allowed.push(route.method.clone());
        }
    }
    if allowed.is_empty() {
        RouteMatch::NotFound
    } else {
        RouteMatch::MethodNotAllowed { allowed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, path: &str, expected: RouteMatch) {
        assert_eq!(route(&method, path), expected, "{method} {path}");
    }

    fn found(operation: Operation, params: &[(&'static str, &str)]) -> RouteMatch {
        RouteMatch::Found {
            operation,
            params: params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        }
    }

    #[test]
    fn the_table_routes_each_declared_path_and_method() {
        check(Method::POST, "/orders", found(Operation::PlaceOrder, &[]));
        check(
            Method::GET,
            "/orders/X",
            found(Operation::GetOrder, &[("orderId", "X")]),
        );
        check(
            Method::POST,
            "/orders/X/cancel",
            found(Operation::CancelOrder, &[("orderId", "X")]),
        );
        check(
            Method::GET,
            "/customers/C1/orders",
            found(Operation::ListCustomerOrders, &[("customerId", "C1")]),
        );
        check(
            Method::GET,
            "/orders/ORD-%23x",
            found(Operation::GetOrder, &[("orderId", "ORD-#x")]),
        );
    }

    #[test]
    fn other_paths_and_methods_are_refused() {
        check(Method::GET, "/", RouteMatch::NotFound);
        check(Method::GET, "/orders/", RouteMatch::NotFound);
        check(Method::GET, "/orders/a/b", RouteMatch::NotFound);
        check(Method::GET, "/orderss", RouteMatch::NotFound);
        check(Method::GET, "/orders/%FF", RouteMatch::NotFound);
        check(
            Method::GET,
            "/orders",
            RouteMatch::MethodNotAllowed {
                allowed: vec![Method::POST],
            },
        );
        check(
            Method::DELETE,
            "/orders/X",
            RouteMatch::MethodNotAllowed {
                allowed: vec![Method::GET],
            },
        );
        check(
            Method::GET,
            "/orders/X/cancel",
            RouteMatch::MethodNotAllowed {
                allowed: vec![Method::POST],
            },
        );
    }
}
