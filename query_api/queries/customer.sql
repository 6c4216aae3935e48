-- The customer's mirror row (existence check and header). Params: $customer_id.
SELECT *
FROM __SOURCE__.customers
WHERE customer_id = $customer_id
