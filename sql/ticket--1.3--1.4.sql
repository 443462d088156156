/* ticket--1.3--1.4.sql: real-name tickets: passengers, groups, fares, limits, refunds and changes */

\echo Use "ALTER EXTENSION ticket UPDATE TO '1.4'" to load this file. \quit

SET LOCAL search_path = ticket, pg_catalog;
